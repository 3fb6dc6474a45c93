package hl7

import "strings"

// Synthetic patient data: distinctive strings that must never leave the parser.
const (
	phiName   = "QUILLFEATHER^MARGUERITE^ANNE"
	phiMRN    = "MRN7734190"
	phiDOB    = "19480317"
	phiKin    = "QUILLFEATHER^BARTHOLOMEW"
	phiNote   = "Pt Quillfeather anxious"
	phiValue  = "9131.77"
	phiDoctor = "0042^HOUNDSWORTH^OPAL"
	phiVisit  = "VN5550199"
)

func msg(lines ...string) []byte { return []byte(strings.Join(lines, "\r") + "\r") }

// pumpPCD01 is an infusion pump reporting for itself (MSH-3 carries its EUI-64).
var pumpPCD01 = msg(
	`MSH|^~\&|PUMP01^0012A1FFFE001234^EUI-64|WARD3|DOC|HOSP|20240101120000||ORU^R01^ORU_R01|MSG0001|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO`,
	`PID|||`+phiMRN+`^^^HOSP^MR||`+phiName+`||`+phiDOB+`|F`,
	`NK1|1|`+phiKin+`|SPO`,
	`PV1||I|ICU-3^301^B^HOSP|||||`+phiDoctor+`||||||||||`+phiVisit,
	`OBR|1|||69985^MDC_DEV_PUMP_INFUS_MDS^MDC|||20240101120000`,
	`OBX|1||69985^MDC_DEV_PUMP_INFUS_MDS^MDC|1.0.0.0|||||||X|||||||0012A1FFFE001234^^0012A1FFFE001234^EUI-64`,
	`OBX|2|ST|531970^MDC_ID_MODEL_MANUFACTURER^MDC|1.0.0.1|Acme Infusion||||||F`,
	`OBX|3|ST|531969^MDC_ID_MODEL_NUMBER^MDC|1.0.0.2|AI-500||||||F`,
	`OBX|4|ST|531972^MDC_ID_PROD_SPEC_SERIAL^MDC|1.0.0.3|SN\T\0042||||||F`,
	`OBX|5|ST|531975^MDC_ID_PROD_SPEC_SW^MDC|1.0.0.4|3.1.4||||||F`,
	`OBX|6|ST|531976^MDC_ID_PROD_SPEC_FW^MDC|1.0.0.5|fw-7.2||||||F`,
	`OBX|7|NM|67996^MDC_ATTR_VAL_BATT_CHARGE^MDC|1.0.0.6|85|262688^MDC_DIM_PERCENT^MDC|||||F`,
	`OBX|8|NM|157784^MDC_FLOW_FLUID_PUMP^MDC|1.1.1.1|`+phiValue+`|265266^MDC_DIM_MILLI_L_PER_HR^MDC|||||F`,
	`OBX|9|TX|0^NOTE^L|1.1.1.2|`+phiNote+`||||||F`,
)

// gatewayPCD01 comes from a gateway reporting a monitor and a ventilator.
var gatewayPCD01 = msg(
	`MSH|^~\&|GW7|ICU|DOC|HOSP|20240101120000||ORU^R01^ORU_R01|GW-1|P|2.5|||NE|NE`,
	`PID|||`+phiMRN+`||`+phiName,
	`PV1||I|ICU-3^302^A`,
	`OBR|1|||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC`,
	`OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||MON^^00095BFFFE0A0001^EUI-64`,
	`OBX|2||70666^MDC_DEV_ECG_RESP_VMD^MDC|1.2.0.0|||||||X`,
	`OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|`+phiValue+`|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F`,
	`OBX|4||70001^MDC_DEV_SYS_PT_VENT_MDS^MDC|2.0.0.0|||||||X|||||||VENT^^00095BFFFE0B0002^EUI-64`,
	`OBX|5|ST|531972^MDC_ID_PROD_SPEC_SERIAL^MDC|2.0.0.1|V-998877||||||F`,
	`OBX|6|ST|531970^MDC_ID_MODEL_MANUFACTURER^MDC|2.0.0.2|Breathe Co||||||F`,
	`OBX|7|ST|0^MDC_ATTR_SELF_TEST_RESULT^MDC|2.0.0.3|failed||||||F`,
)

// alarmPCD04 is a technical alarm (occlusion) from the pump, phase given.
func alarmPCD04(phase, kind string) []byte {
	return msg(
		`MSH|^~\&|PUMP01^0012A1FFFE001234^EUI-64|WARD3|ACM|HOSP|20240101120500||ORU^R40^ORU_R40|ALM-`+phase+`|P|2.6|||AL|NE`,
		`PID|||`+phiMRN+`||`+phiName+`||`+phiDOB,
		`PV1||I|ICU-3^301^B`,
		`OBR|1|||196616^MDC_EVT_ALARM^MDC|||20240101120500`,
		`OBX|1||69985^MDC_DEV_PUMP_INFUS_MDS^MDC|1.0.0.0|||||||X|||||||0012A1FFFE001234^^0012A1FFFE001234^EUI-64`,
		`OBX|2|ST|196940^MDC_EVT_FLUID_LINE_OCCL^MDC|1.1.0.0.1|`+phiNote+`|||`+kind+`~PH|||F`,
		`OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.0.0.3|`+phase+`||||||F`,
		`OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.0.0.4|active||||||F`,
	)
}

// nmdHeartbeat is an NMD^N02 from an application with no EUI-64.
var nmdHeartbeat = msg(
	`MSH|^~\&|VENTGW|ICU|DOC|HOSP|20240101120000||NMD^N02^NMD_N02|HB-1|P|2.4`,
	`NCK|20240101120000`,
	`NST|Y||||||10|0`,
)

// adtA01 is a message type the collector does not interpret.
var adtA01 = msg(
	`MSH|^~\&|ADTAPP|HOSP|DOC|HOSP|20240101120000||ADT^A01|ADT-1|P|2.3`,
	`EVN|A01|20240101120000`,
	`PID|||`+phiMRN+`||`+phiName+`||`+phiDOB,
	`PV1||I|ICU-3^303^C`,
)

var phiStrings = []string{"QUILLFEATHER", "Quillfeather", "MARGUERITE", phiMRN, phiDOB, "BARTHOLOMEW", "HOUNDSWORTH", phiVisit, phiValue, "anxious"}
