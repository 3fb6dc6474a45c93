package hl7

import "strings"

// Device classes, spelled as the cmdb's AssetClass values.
const (
	ClassPatientMonitor = "PATIENT_MONITOR"
	ClassInfusionPump   = "INFUSION_PUMP"
	ClassVentilator     = "VENTILATOR"
	ClassAnesthesia     = "ANESTHESIA_MACHINE"
	ClassHL7Gateway     = "HL7_GATEWAY"
)

// mdcClass maps IEEE 11073-10101 device (MDS/VMD) codes to classes.
var mdcClass = map[string]string{
	"69965": ClassPatientMonitor, // MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS
	"69985": ClassInfusionPump,   // MDC_DEV_PUMP_INFUS_MDS
	"69986": ClassInfusionPump,   // MDC_DEV_PUMP_INFUS_VMD
	"70001": ClassVentilator,     // MDC_DEV_SYS_PT_VENT_MDS
	"70002": ClassVentilator,     // MDC_DEV_SYS_PT_VENT_VMD
}

// mdcNameClass classifies by reference identifier when the numeric code is unknown
// or absent: vendors disagree on codes far more than on names.
var mdcNameClass = []struct{ part, class string }{
	{"PUMP_INFUS", ClassInfusionPump},
	{"_VENT_", ClassVentilator},
	{"_VENT", ClassVentilator},
	{"ANESTH", ClassAnesthesia},
	{"MON_PHYSIO", ClassPatientMonitor},
	{"MULTI_PARAM", ClassPatientMonitor},
	{"ECG", ClassPatientMonitor},
	{"SAT_O2", ClassPatientMonitor},
	{"PRESS_BLD", ClassPatientMonitor},
}

// ClassOf returns the device class of an MDC device code or reference identifier
// (MDC_DEV_...), or "" when it names no known kind of device.
func ClassOf(code, name string) string {
	if c, ok := mdcClass[code]; ok {
		return c
	}
	if !strings.HasPrefix(name, "MDC_DEV_") {
		return ""
	}
	for _, p := range mdcNameClass {
		if strings.Contains(name, p.part) {
			return p.class
		}
	}
	return ""
}

// isDeviceCode reports whether an OBX-3 names a device level (MDS, VMD, channel)
// rather than a measurement.
func isDeviceCode(code, name string) bool {
	_, ok := mdcClass[code]
	return ok || strings.HasPrefix(name, "MDC_DEV_")
}

// isMDS reports whether a device code is the top (MDS) level.
func isMDS(code, name string) bool {
	return strings.HasSuffix(name, "_MDS") || code == "69965" || code == "69985" || code == "70001"
}

// MEM-DMC device attributes (IHE PCD MEM-DMC, IEEE 11073-10101 partition 8 and 1).
const (
	mdcModelNumber  = "531969" // MDC_ID_MODEL_NUMBER
	mdcManufacturer = "531970" // MDC_ID_MODEL_MANUFACTURER
	mdcSerial       = "531972" // MDC_ID_PROD_SPEC_SERIAL
	mdcSoftware     = "531975" // MDC_ID_PROD_SPEC_SW
	mdcFirmware     = "531976" // MDC_ID_PROD_SPEC_FW
	mdcSystemModel  = "67880"  // MDC_ATTR_ID_MODEL: manufacturer^model
	mdcPowerStat    = "67925"  // MDC_ATTR_POWER_STAT
	mdcBattCharge   = "67996"  // MDC_ATTR_VAL_BATT_CHARGE, percent
	mdcBattStat     = "68020"  // MDC_ATTR_BATT_STAT
	mdcEvtAlarm     = "196616" // MDC_EVT_ALARM: the event is in OBX-5
)

var memCodes = map[string]string{
	mdcModelNumber: mdcModelNumber, mdcManufacturer: mdcManufacturer, mdcSerial: mdcSerial,
	mdcSoftware: mdcSoftware, mdcFirmware: mdcFirmware, mdcSystemModel: mdcSystemModel,
	mdcPowerStat: mdcPowerStat, mdcBattCharge: mdcBattCharge, mdcBattStat: mdcBattStat,
}

var memByName = map[string]string{
	"MDC_ID_MODEL_NUMBER": mdcModelNumber, "MDC_ID_MODEL_MANUFACTURER": mdcManufacturer,
	"MDC_ID_PROD_SPEC_SERIAL": mdcSerial, "MDC_ID_PROD_SPEC_SW": mdcSoftware,
	"MDC_ID_PROD_SPEC_FW": mdcFirmware, "MDC_ATTR_ID_MODEL": mdcSystemModel,
	"MDC_ATTR_POWER_STAT": mdcPowerStat, "MDC_ATTR_VAL_BATT_CHARGE": mdcBattCharge,
	"MDC_ATTR_BATT_STAT": mdcBattStat,
}

// technicalEventParts mark alarm events that are about the equipment, for senders
// that do not say ST/SP (IHE PCD ACM "alert type").
var technicalEventParts = []string{"BATT", "COMM", "OCCL", "SENSOR", "EQUIP", "MALF", "DISCONN", "POWER", "FAIL", "DOOR", "AIR_IN_LINE", "SELF_TEST"}

func isTechnicalEvent(name string) bool {
	for _, p := range technicalEventParts {
		if strings.Contains(name, p) {
			return true
		}
	}
	return false
}
