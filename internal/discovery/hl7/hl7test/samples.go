// Package hl7test builds HL7 v2 messages for tests, benchmarks and simulators: IHE PCD
// device messages full of synthetic patient data, so that tests can prove none of it
// is kept. Every name, number and date here is invented.
package hl7test

import (
	"fmt"
	"strings"
)

// Synthetic patient data carried by the samples.
const (
	Name   = "QUILLFEATHER^MARGUERITE^ANNE"
	MRN    = "MRN7734190"
	DOB    = "19480317"
	Kin    = "QUILLFEATHER^BARTHOLOMEW"
	Note   = "Pt Quillfeather anxious"
	Value  = "9131.77"
	Doctor = "0042^HOUNDSWORTH^OPAL"
	Visit  = "VN5550199"
	Phone  = "(555)014-2234"
	Street = "17 Larkspur Mews"
)

// PHI lists the distinctive fragments of the synthetic patient data: none may appear
// in anything the collector or the cmdb keeps, logs or answers.
var PHI = []string{"QUILLFEATHER", "Quillfeather", "MARGUERITE", MRN, DOB, "BARTHOLOMEW", "HOUNDSWORTH",
	Visit, Value, "anxious", "014-2234", "Larkspur"}

// Lines joins segments with \r, the HL7 segment terminator.
func Lines(segs ...string) []byte { return []byte(strings.Join(segs, "\r") + "\r") }

// Patient returns PID, NK1 and PV1 segments for a patient at unit^room^bed.
func Patient(unit, room, bed string) []string {
	return []string{
		`PID|1||` + MRN + `^^^HOSP^MR||` + Name + `||` + DOB + `|F|||` + Street + `^^SPRINGTON^ST^01234||` + Phone,
		`NK1|1|` + Kin + `|SPO||` + Phone,
		fmt.Sprintf(`PV1|1|I|%s^%s^%s^HOSP|||||%s||||||||||%s`, unit, room, bed, Doctor, Visit),
	}
}

// Device describes a device a sample message reports.
type Device struct {
	EUI64        string // 16 hex digits
	App          string // MSH-3 namespace
	MDC          string // MDS code^name, e.g. "69985^MDC_DEV_PUMP_INFUS_MDS"
	Manufacturer string
	Model        string
	Serial       string
	Software     string
	Firmware     string
	Battery      string // percent, "" for none
	Unit, Room   string
	Bed          string
	Version      string // MSH-12, default 2.6
}

// Pump is an infusion pump reporting for itself.
var Pump = Device{EUI64: "0012A1FFFE001234", App: "PUMP01", MDC: "69985^MDC_DEV_PUMP_INFUS_MDS",
	Manufacturer: "Acme Infusion", Model: "AI-500", Serial: "SN-0042", Software: "3.1.4", Firmware: "fw-7.2",
	Battery: "85", Unit: "ICU-3", Room: "301", Bed: "B"}

func (d Device) msh(typ, controlID, ackModes string) string {
	v := d.Version
	if v == "" {
		v = "2.6"
	}
	return fmt.Sprintf(`MSH|^~\&|%s^%s^EUI-64|WARD|DOC|HOSP|20240101120000||%s|%s|P|%s|||%s`, d.App, d.EUI64, typ, controlID, v, ackModes)
}

// PCD01 is an IHE PCD-01 ORU^R01 with the device's MEM-DMC identity, a patient, a
// measurement and a free-text note.
func (d Device) PCD01(controlID string) []byte {
	segs := []string{d.msh("ORU^R01^ORU_R01", controlID, "AL|NE")}
	segs = append(segs, Patient(d.Unit, d.Room, d.Bed)...)
	segs = append(segs,
		`OBR|1|||`+d.MDC+`^MDC|||20240101120000`,
		`OBX|1||`+d.MDC+`^MDC|1.0.0.0|||||||X|||||||`+d.EUI64+`^^`+d.EUI64+`^EUI-64`,
		`OBX|2|ST|531970^MDC_ID_MODEL_MANUFACTURER^MDC|1.0.0.1|`+d.Manufacturer+`||||||F`,
		`OBX|3|ST|531969^MDC_ID_MODEL_NUMBER^MDC|1.0.0.2|`+d.Model+`||||||F`,
		`OBX|4|ST|531972^MDC_ID_PROD_SPEC_SERIAL^MDC|1.0.0.3|`+d.Serial+`||||||F`,
		`OBX|5|ST|531975^MDC_ID_PROD_SPEC_SW^MDC|1.0.0.4|`+d.Software+`||||||F`,
		`OBX|6|ST|531976^MDC_ID_PROD_SPEC_FW^MDC|1.0.0.5|`+d.Firmware+`||||||F`,
	)
	if d.Battery != "" {
		segs = append(segs, `OBX|7|NM|67996^MDC_ATTR_VAL_BATT_CHARGE^MDC|1.0.0.6|`+d.Battery+`|262688^MDC_DIM_PERCENT^MDC|||||F`)
	}
	segs = append(segs,
		`OBX|8|NM|157784^MDC_FLOW_FLUID_PUMP^MDC|1.1.1.1|`+Value+`|265266^MDC_DIM_MILLI_L_PER_HR^MDC|||||F`,
		`OBX|9|TX|0^NOTE^L|1.1.1.2|`+Note+` `+Name+`||||||F`,
		`NTE|1||`+Note,
	)
	return Lines(segs...)
}

// PCD04 is an IHE PCD-04 ORU^R40 alarm of the device: event (e.g.
// "196940^MDC_EVT_FLUID_LINE_OCCL"), phase (start, continue, end, tpoint) and alert
// source flag (ST technical, SP physiological).
func (d Device) PCD04(controlID, event, phase, source string) []byte {
	segs := []string{d.msh("ORU^R40^ORU_R40", controlID, "AL|NE")}
	segs = append(segs, Patient(d.Unit, d.Room, d.Bed)...)
	segs = append(segs,
		`OBR|1|||196616^MDC_EVT_ALARM^MDC|||20240101120500`,
		`OBX|1||`+d.MDC+`^MDC|1.0.0.0|||||||X|||||||`+d.EUI64+`^^`+d.EUI64+`^EUI-64`,
		`OBX|2|ST|`+event+`^MDC|1.1.0.0.1|`+Note+`|||`+source+`~PH|||F`,
		`OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.0.0.3|`+phase+`||||||F`,
		`OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.0.0.4|active||||||F`,
	)
	return Lines(segs...)
}

// Heartbeat is an NMD^N02 from the device's application.
func (d Device) Heartbeat(controlID string) []byte {
	return Lines(d.msh("NMD^N02^NMD_N02", controlID, ""), `NCK|20240101120000`, `NST|Y||||||10|0`)
}

// ADT is an ADT^A01 (a type the collector does not interpret) from the device's
// application, full of patient data.
func (d Device) ADT(controlID string) []byte {
	segs := []string{d.msh("ADT^A01", controlID, ""), `EVN|A01|20240101120000`}
	return Lines(append(segs, Patient(d.Unit, d.Room, d.Bed)...)...)
}

// SynthPatient is one patient of an invented population, for simulators that need many
// distinct patients. Every name, number, date and address is made up; none of it may
// ever be kept by the collector or the cmdb (PHI lists the fragments to look for).
type SynthPatient struct {
	MRN, Family, Given, Middle, DOB, Sex, Street, City, Phone, Visit, Kin string
}

var (
	synthFamilies = []string{"QUILLFEATHER", "MOSSGROVE", "TANGLEWICK", "BRISTLECONE", "LANTERNBY", "NETTLEFORD",
		"CINDERWELL", "SPARROWDALE", "GLIMMERSTONE", "THISTLECROFT", "PUDDLEWICK", "HOLLOWMERE", "FERNSBOROUGH",
		"WREN-ABBOTSLEY", "MARROWFIELD", "BRAMBLECOTE"}
	synthGiven   = []string{"MARGUERITE", "TOBIAS", "ELOWEN", "CASPIAN", "ROSALIND", "PERCIVAL", "IMOGEN", "AUGUSTIN", "LUNED", "OSWIN", "BEATRIX", "FINNEGAN"}
	synthMiddle  = []string{"ANNE", "JAMES", "MAE", "LEE", "ROSE", "JOHN", "GRACE", "PAUL"}
	synthStreets = []string{"Larkspur Mews", "Quincewood Lane", "Otterbrook Row", "Saffron Hill Close", "Wicklow Yard"}
)

// SyntheticPatient returns patient n of the invented population: the same n is always
// the same patient.
func SyntheticPatient(n uint64) SynthPatient {
	h := n*0x9E3779B97F4A7C15 + 0x6d6564
	pick := func(list []string) string {
		h ^= h >> 29
		h *= 0xBF58476D1CE4E5B9
		return list[h%uint64(len(list))]
	}
	fam, given, mid, street := pick(synthFamilies), pick(synthGiven), pick(synthMiddle), pick(synthStreets)
	sex := "F"
	if h&1 == 1 {
		sex = "M"
	}
	return SynthPatient{
		MRN: fmt.Sprintf("SIM%07d", n%10_000_000), Family: fam, Given: given, Middle: mid,
		DOB:    fmt.Sprintf("%04d%02d%02d", 1930+int((h>>8)%90), 1+int((h>>16)%12), 1+int((h>>24)%28)),
		Sex:    sex,
		Street: fmt.Sprintf("%d %s", 1+n%97, street), City: "SPRINGTON",
		Phone: fmt.Sprintf("(555)01%d-%04d", n%10, n%10000), Visit: fmt.Sprintf("SV%08d", n%100_000_000),
		Kin: pick(synthFamilies) + "^" + pick(synthGiven),
	}
}

// PID returns the patient's PID segment.
func (p SynthPatient) PID() string {
	return `PID|1||` + p.MRN + `^^^HOSP^MR||` + p.Family + `^` + p.Given + `^` + p.Middle + `||` + p.DOB + `|` + p.Sex +
		`|||` + p.Street + `^^` + p.City + `^ST^01234||` + p.Phone
}

// PV1 returns an inpatient PV1 at a point of care (unit^room^bed) of a facility.
func (p SynthPatient) PV1(unit, room, bed, facility string) string {
	return `PV1|1|I|` + unit + `^` + room + `^` + bed + `^` + facility + `||||` + Doctor + `||||||||||` + p.Visit
}

// PHI returns the distinctive fragments of the patient's data.
func (p SynthPatient) PHI() []string {
	return []string{p.MRN, p.Family, p.Given, p.DOB, p.Street, p.Phone, p.Visit, "HOUNDSWORTH"}
}

// SyntheticPHI lists the fragments of every name and street the population draws
// from: none may appear in anything kept, logged or answered.
func SyntheticPHI() []string {
	out := append([]string{"HOUNDSWORTH", "SPRINGTON"}, synthFamilies...)
	out = append(out, synthGiven...)
	return append(out, synthStreets...)
}
