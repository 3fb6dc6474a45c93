package devicesim

import (
	"strconv"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
)

// The HL7 v2.6 messages simulated devices send: IHE PCD-01 observations (ORU^R01)
// with MEM-DMC identity, PCD-04 alarms (ORU^R40), NMD^N02 heartbeats, and a gateway's
// report about itself. Patient segments are synthetic (hl7test). Messages use original
// acknowledgement mode, so every one gets exactly one AA, AE or AR.

// mdsCode is the IEEE 11073 MDS code of each HL7 class, as OBX-3 carries it.
var mdsCode = map[Class]string{
	PatientMonitor:    "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC",
	InfusionPump:      "69985^MDC_DEV_PUMP_INFUS_MDS^MDC",
	Ventilator:        "70001^MDC_DEV_SYS_PT_VENT_MDS^MDC",
	AnesthesiaMachine: "^MDC_DEV_SYS_ANESTH_MDS^MDC",
}

// metric is one synthetic measurement a class reports while a patient is connected.
type metric struct {
	code, unit string
	base, span int
}

var metrics = map[Class][]metric{
	PatientMonitor: {
		{"147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC", 62, 30},
		{"150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC", 93, 7},
		{"150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC", 105, 40},
	},
	InfusionPump:      {{"157784^MDC_FLOW_FLUID_PUMP^MDC", "265266^MDC_DIM_MILLI_L_PER_HR^MDC", 20, 100}},
	Ventilator:        {{"151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC", 12, 10}},
	AnesthesiaMachine: {{"151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC", 10, 6}},
}

// alarmCodes are the numeric codes of the alarm events we know one for.
var alarmCodes = map[string]string{"MDC_EVT_FLUID_LINE_OCCL": "196940"}

const (
	profilePCD01 = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
	profilePCD04 = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO"
)

// msg builds one message in a reused buffer.
type msg struct {
	b   []byte
	ts  string // HL7 timestamp of now
	seg int    // OBX set id
}

func (m *msg) reset(now time.Time) {
	m.b = m.b[:0]
	m.ts = now.UTC().Format("20060102150405") + "+0000"
	m.seg = 0
}

func (m *msg) add(parts ...string) {
	for _, p := range parts {
		m.b = append(m.b, p...)
	}
	m.b = append(m.b, '\r')
}

// app is the MSH-3 of a sending device: its name and EUI-64.
func app(d *Device) string { return d.Name + "^" + d.EUI64() + "^EUI-64" }

func facility(d *Device) string { return strings.ToUpper(d.Unit.Site.Code) }

func (m *msg) msh(sender *Device, typ, controlID, profile string) {
	m.add(`MSH|^~\&|`, app(sender), "|", facility(sender), "|MEDCMDB|HOSP|", m.ts, "||", typ, "|", controlID,
		"|P|2.6|||||||||", profile)
}

// patient adds PID and PV1: a synthetic patient when one is connected, an empty PID
// (no patient) otherwise; PV1-3 is the point of care either way.
func (m *msg) patient(d *Device, n uint64, bound bool) {
	unit, room, bed := d.PointOfCare()
	fac := facility(d)
	if !bound {
		m.add("PID|1")
		m.add("PV1|1|N|", unit, "^", room, "^", bed, "^", fac)
		return
	}
	p := hl7test.SyntheticPatient(n)
	m.add(p.PID())
	m.add(p.PV1(unit, room, bed, fac))
}

func (m *msg) obx(typ, code, path, value, unit, status, equipment string) {
	m.seg++
	m.add("OBX|", strconv.Itoa(m.seg), "|", typ, "|", code, "|", path, "|", value, "|", unit, "|||||", status,
		"|||||||", equipment)
}

func euiField(d *Device) string {
	e := d.EUI64()
	return e + "^^" + e + "^EUI-64"
}

// identity adds the MEM-DMC attributes of d under the MDS at path 1.0.0.
func (m *msg) identity(d *Device) {
	fw := d.Firmware()
	m.obx("ST", "531970^MDC_ID_MODEL_MANUFACTURER^MDC", "1.0.0.1", d.Model.HL7Maker(), "", "R", "")
	m.obx("ST", "531969^MDC_ID_MODEL_NUMBER^MDC", "1.0.0.2", d.Model.Name, "", "R", "")
	m.obx("ST", "531972^MDC_ID_PROD_SPEC_SERIAL^MDC", "1.0.0.3", d.Serial, "", "R", "")
	m.obx("ST", "531975^MDC_ID_PROD_SPEC_SW^MDC", "1.0.0.4", d.Model.Software+" "+fw, "", "R", "")
	m.obx("ST", "531976^MDC_ID_PROD_SPEC_FW^MDC", "1.0.0.5", fw, "", "R", "")
}

// pcd01 is an IHE PCD-01 observation of d sent by sender (d itself or its gateway),
// with its MEM-DMC identity when full, its battery, and while a patient is connected
// the patient and a few synthetic measurements.
func (m *msg) pcd01(sender, d *Device, controlID string, full bool, seq uint32) {
	m.msh(sender, "ORU^R01^ORU_R01", controlID, profilePCD01)
	n, bound := d.Patient()
	m.patient(d, n, bound)
	m.add("OBR|1|", controlID, "^", d.Name, "|", controlID, "^", d.Name, "|182777000^monitoring of patient^SCT|||", m.ts)
	m.obx("", mdsCode[d.Class], "1.0.0.0", "", "", "X", euiField(d))
	if full {
		m.identity(d)
	}
	if b := d.Battery(); b >= 0 {
		m.obx("NM", "67996^MDC_ATTR_VAL_BATT_CHARGE^MDC", "1.0.0.6", strconv.Itoa(b), "262688^MDC_DIM_PERCENT^MDC", "R", "")
	}
	if bound {
		for i, mt := range metrics[d.Class] {
			v := mt.base + int((n>>(i*5)+uint64(seq))%uint64(mt.span))
			m.obx("NM", mt.code, "1.1.1."+strconv.Itoa(i+1), strconv.Itoa(v), mt.unit, "R", "")
		}
	}
}

// pcd04 is an IHE PCD-04 technical alarm of d: phase start, continue or end.
func (m *msg) pcd04(sender, d *Device, controlID, event, phase string) {
	m.msh(sender, "ORU^R40^ORU_R40", controlID, profilePCD04)
	n, bound := d.Patient()
	m.patient(d, n, bound)
	m.add("OBR|1|", controlID, "^", d.Name, "|", controlID, "^", d.Name, "|196616^MDC_EVT_ALARM^MDC|||", m.ts)
	m.obx("", mdsCode[d.Class], "1.0.0.0", "", "", "X", euiField(d))
	state := "active"
	if phase == "end" {
		state = "inactive"
	}
	m.obx("CWE", "196616^MDC_EVT_ALARM^MDC", "1.0.0.0.1", alarmCodes[event]+"^"+event+"^MDC", "", "F", "")
	m.obx("ST", "68481^MDC_ATTR_EVENT_PHASE^MDC", "1.0.0.0.2", phase, "", "F", "")
	m.obx("ST", "68482^MDC_ATTR_ALARM_STATE^MDC", "1.0.0.0.3", state, "", "F", "")
	m.obx("ST", "68485^MDC_ATTR_ALERT_TYPE^MDC", "1.0.0.0.4", "ST", "", "F", "")
}

// heartbeat is an NMD^N02 of the sender's application with its message counts.
func (m *msg) heartbeat(sender *Device, controlID string, received, sent uint64) {
	m.msh(sender, "NMD^N02^NMD_N02", controlID, "")
	m.add("NCK|", m.ts)
	m.add("NST|Y||||||", strconv.FormatUint(received, 10), "|", strconv.FormatUint(sent, 10))
}

// selfReport is a gateway's (or any sender's) ORU^R01 about itself: its MEM-DMC
// identity and no patient.
func (m *msg) selfReport(d *Device, controlID string) {
	m.msh(d, "ORU^R01^ORU_R01", controlID, profilePCD01)
	m.add("OBR|1|", controlID, "^", d.Name, "|", controlID, "^", d.Name, "|DEVICE_IDENTITY^device identity^L|||", m.ts)
	m.seg++
	m.add("OBX|1|ST|531970^MDC_ID_MODEL_MANUFACTURER^MDC|0.0.0.1|", d.Model.HL7Maker(), "||||||R|||||||", euiField(d))
	fw := d.Firmware()
	m.obx("ST", "531969^MDC_ID_MODEL_NUMBER^MDC", "0.0.0.2", d.Model.Name, "", "R", "")
	m.obx("ST", "531972^MDC_ID_PROD_SPEC_SERIAL^MDC", "0.0.0.3", d.Serial, "", "R", "")
	m.obx("ST", "531975^MDC_ID_PROD_SPEC_SW^MDC", "0.0.0.4", d.Model.Software+" "+fw, "", "R", "")
	m.obx("ST", "531976^MDC_ID_PROD_SPEC_FW^MDC", "0.0.0.5", fw, "", "R", "")
}
