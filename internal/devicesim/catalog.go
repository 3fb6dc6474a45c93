package devicesim

import (
	"fmt"
	"strconv"
	"strings"
)

// Class is a device class, named as the cmdb's AssetClass values.
type Class uint8

// Device classes.
const (
	PatientMonitor Class = iota
	InfusionPump
	Ventilator
	AnesthesiaMachine
	LabAnalyzer
	Imaging
	NetworkSwitch
	WirelessAP
	UPS
	Printer
	HL7Gateway
	Workstation
	numClasses

	// coreSwitch is a catalogue key only: core models are NETWORK_SWITCH devices.
	coreSwitch Class = 100
)

var classNames = [numClasses]string{
	"PATIENT_MONITOR", "INFUSION_PUMP", "VENTILATOR", "ANESTHESIA_MACHINE", "LAB_ANALYZER",
	"IMAGING", "NETWORK_SWITCH", "WIRELESS_AP", "UPS", "PRINTER", "HL7_GATEWAY", "WORKSTATION",
}

// String returns the cmdb's AssetClass name.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "OTHER"
}

// ParseClass parses an AssetClass name.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if strings.EqualFold(n, s) {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("unknown device class %q (want one of %s)", s, strings.Join(classNames[:], ", "))
}

// SpeaksHL7 reports whether devices of the class send HL7 (IHE PCD-01 observations,
// heartbeats, alarms) and so carry an EUI-64.
func (c Class) SpeaksHL7() bool {
	switch c {
	case PatientMonitor, InfusionPump, Ventilator, AnesthesiaMachine, HL7Gateway:
		return true
	}
	return false
}

// shortName is the class part of generated sysNames.
var shortName = [numClasses]string{"mon", "pump", "vent", "anes", "lab", "img", "sw", "ap", "ups", "prn", "hl7gw", "ws"}

// Model is one product of the catalogue. Enterprise numbers are IANA's (Cisco 9,
// HP 11, APC 318, Philips Medizin Systeme Böblingen 19816, Dräger 3592, GE Healthcare
// 45553, Baxter 10096, B. Braun 22447, ...); the product sub-identifiers below the
// enterprise are real where published (Cisco, APC, HP printers, Aruba) and
// representative otherwise. OUIs are the vendor's where well known; the others are
// locally administered (second bit of the first octet set) so they can never clash
// with a real NIC.
type Model struct {
	Class        Class
	Manufacturer string
	Name         string // model name (entPhysicalModelName)
	ObjectID     []uint32
	// Descr is the sysDescr template: {model} {fw} {serial} are replaced.
	Descr    string
	Firmware []string // versions in use; a device gets one by seed
	Software string   // entPhysicalSoftwareRev prefix
	HWRev    string
	OUI      [3]byte
	// SerialPrefix starts generated serial numbers; SerialDigits is how many follow.
	SerialPrefix string
	SerialDigits int
	// Ports is the number of access ports of a switch (uplinks come after).
	Ports   int
	Uplinks int
	// IfName formats a switch port name from its number (1-based).
	IfName func(port int) string
	// Speed of the device's (or access ports') interface in Mbit/s.
	SpeedMbps uint32
	// LLDP devices announce themselves to their switch (phones, APs, PCs do; most
	// medical devices do not).
	LLDP bool
	// HL7Manufacturer is how the device spells its maker in its own HL7 reports
	// (MEM-DMC), when not Manufacturer: ASCII, and the name fingerprinting gives it,
	// so that the cmdb can tell the HL7 and SNMP views are one device.
	HL7Manufacturer string
}

// HL7Maker returns the manufacturer the device reports over HL7.
func (m *Model) HL7Maker() string {
	if m.HL7Manufacturer != "" {
		return m.HL7Manufacturer
	}
	return m.Manufacturer
}

func oid(s string) []uint32 {
	parts := strings.Split(strings.TrimPrefix(s, "."), ".")
	out := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			panic("devicesim: bad OID literal " + s)
		}
		out[i] = uint32(n)
	}
	return out
}

func ciscoPort(p int) string {
	if p > 48 {
		return fmt.Sprintf("TenGigabitEthernet1/1/%d", p-48)
	}
	return fmt.Sprintf("GigabitEthernet1/0/%d", p)
}

func corePort(p int) string {
	if p > 48 {
		return fmt.Sprintf("HundredGigE1/0/%d", p)
	}
	return fmt.Sprintf("TwentyFiveGigE1/0/%d", p)
}

func arubaPort(p int) string { return fmt.Sprintf("1/1/%d", p) }

// Catalogue is every model the generator draws from, by class.
var Catalogue = map[Class][]*Model{
	PatientMonitor: {
		{Class: PatientMonitor, Manufacturer: "Philips", Name: "IntelliVue MX800", ObjectID: oid("1.3.6.1.4.1.19816.1.3.800"),
			Descr: "Philips IntelliVue {model} Patient Monitor, SW {fw}", Firmware: []string{"M.00.03", "N.00.12", "N.01.24"},
			Software: "N", HWRev: "A.02", OUI: [3]byte{0x00, 0x09, 0xfb}, SerialPrefix: "DE", SerialDigits: 8, SpeedMbps: 100},
		{Class: PatientMonitor, Manufacturer: "GE Healthcare", Name: "CARESCAPE B650", ObjectID: oid("1.3.6.1.4.1.45553.2.1.650"),
			Descr: "GE CARESCAPE Monitor B650 software {fw}", Firmware: []string{"2.0.5", "3.2.1", "3.3"},
			Software: "3", HWRev: "1.0", OUI: [3]byte{0x02, 0x4e, 0x47}, SerialPrefix: "SD", SerialDigits: 9, SpeedMbps: 100},
		{Class: PatientMonitor, Manufacturer: "Dräger", HL7Manufacturer: "Draeger", Name: "Infinity M540", ObjectID: oid("1.3.6.1.4.1.3592.10.1.540"),
			Descr: "Draeger Infinity M540 Patient Monitor VF{fw}", Firmware: []string{"8.1", "9.0", "10.1"},
			Software: "VF", HWRev: "B", OUI: [3]byte{0x00, 0x30, 0xe6}, SerialPrefix: "ASLM-", SerialDigits: 5, SpeedMbps: 100},
		{Class: PatientMonitor, Manufacturer: "Mindray", Name: "BeneVision N17", ObjectID: oid("1.3.6.1.4.1.54260.1.17"),
			Descr: "Mindray BeneVision N17 Patient Monitor V{fw}", Firmware: []string{"01.32", "02.10"},
			Software: "V", HWRev: "2", OUI: [3]byte{0x02, 0x4d, 0x52}, SerialPrefix: "EV-", SerialDigits: 8, SpeedMbps: 100},
	},
	InfusionPump: {
		{Class: InfusionPump, Manufacturer: "Baxter", Name: "Sigma Spectrum IQ", ObjectID: oid("1.3.6.1.4.1.10096.2.35700"),
			Descr: "Baxter Sigma Spectrum IQ Infusion System 35700 fw {fw}", Firmware: []string{"8.00.01", "9.02.00"},
			Software: "8", HWRev: "C", OUI: [3]byte{0x02, 0x42, 0x58}, SerialPrefix: "S", SerialDigits: 7, SpeedMbps: 54},
		{Class: InfusionPump, Manufacturer: "B. Braun", Name: "Space Infusomat", ObjectID: oid("1.3.6.1.4.1.22447.3.8713050"),
			Descr: "B. Braun Space Infusomat P 8713050 Release {fw}", Firmware: []string{"686K", "695N", "697G"},
			Software: "6", HWRev: "4", OUI: [3]byte{0x02, 0x42, 0x42}, SerialPrefix: "", SerialDigits: 6, SpeedMbps: 54},
	},
	Ventilator: {
		{Class: Ventilator, Manufacturer: "Dräger", HL7Manufacturer: "Draeger", Name: "Evita V800", ObjectID: oid("1.3.6.1.4.1.3592.20.1.800"),
			Descr: "Draeger Evita V800 Ventilator SW {fw}", Firmware: []string{"2.51", "2.60"},
			Software: "2", HWRev: "A", OUI: [3]byte{0x00, 0x30, 0xe6}, SerialPrefix: "ASKD-", SerialDigits: 5, SpeedMbps: 100},
		{Class: Ventilator, Manufacturer: "Hamilton Medical", Name: "HAMILTON-C6", ObjectID: oid("1.3.6.1.4.1.54965.1.6"),
			Descr: "HAMILTON-C6 ventilator SW {fw}", Firmware: []string{"1.1.4", "2.0.2"},
			Software: "2", HWRev: "3", OUI: [3]byte{0x02, 0x48, 0x4d}, SerialPrefix: "C6-", SerialDigits: 6, SpeedMbps: 100},
		{Class: Ventilator, Manufacturer: "GE Healthcare", Name: "CARESCAPE R860", ObjectID: oid("1.3.6.1.4.1.45553.3.1.860"),
			Descr: "GE CARESCAPE R860 Ventilator software {fw}", Firmware: []string{"11.1", "12.0"},
			Software: "12", HWRev: "2", OUI: [3]byte{0x02, 0x4e, 0x47}, SerialPrefix: "SJW", SerialDigits: 8, SpeedMbps: 100},
	},
	AnesthesiaMachine: {
		{Class: AnesthesiaMachine, Manufacturer: "Dräger", HL7Manufacturer: "Draeger", Name: "Perseus A500", ObjectID: oid("1.3.6.1.4.1.3592.30.1.500"),
			Descr: "Draeger Perseus A500 Anaesthesia Workstation SW {fw}", Firmware: []string{"2.03", "2.05"},
			Software: "2", HWRev: "C", OUI: [3]byte{0x00, 0x30, 0xe6}, SerialPrefix: "ASFH-", SerialDigits: 5, SpeedMbps: 100},
		{Class: AnesthesiaMachine, Manufacturer: "GE Healthcare", Name: "Aisys CS2", ObjectID: oid("1.3.6.1.4.1.45553.4.1.2"),
			Descr: "GE Datex-Ohmeda Aisys CS2 software {fw}", Firmware: []string{"11", "11SP08"},
			Software: "11", HWRev: "B", OUI: [3]byte{0x02, 0x4e, 0x47}, SerialPrefix: "AMXP", SerialDigits: 5, SpeedMbps: 100},
	},
	LabAnalyzer: {
		{Class: LabAnalyzer, Manufacturer: "Roche Diagnostics", Name: "cobas pro c 503", ObjectID: oid("1.3.6.1.4.1.55589.1.503"),
			Descr: "Roche cobas pro integrated solutions c 503 SW {fw}", Firmware: []string{"01-03", "02-01"},
			Software: "02", HWRev: "1", OUI: [3]byte{0x02, 0x52, 0x44}, SerialPrefix: "", SerialDigits: 8, SpeedMbps: 1000},
		{Class: LabAnalyzer, Manufacturer: "Abbott", Name: "Alinity ci", ObjectID: oid("1.3.6.1.4.1.12514.2.1"),
			Descr: "Abbott Alinity ci-series System Software {fw}", Firmware: []string{"3.4.0", "3.6.1"},
			Software: "3", HWRev: "A", OUI: [3]byte{0x02, 0x41, 0x42}, SerialPrefix: "AC", SerialDigits: 8, SpeedMbps: 1000},
		{Class: LabAnalyzer, Manufacturer: "Siemens Healthineers", Name: "Atellica CH 930", ObjectID: oid("1.3.6.1.4.1.55350.2.930"),
			Descr: "Siemens Healthineers Atellica CH 930 Analyzer SW {fw}", Firmware: []string{"1.27.1", "1.29.0"},
			Software: "1", HWRev: "2", OUI: [3]byte{0x00, 0x0e, 0x8c}, SerialPrefix: "CH", SerialDigits: 7, SpeedMbps: 1000},
	},
	Imaging: {
		{Class: Imaging, Manufacturer: "Siemens Healthineers", Name: "SOMATOM go.Top", ObjectID: oid("1.3.6.1.4.1.55350.1.100"),
			Descr: "Siemens Healthineers SOMATOM go.Top CT syngo {fw}", Firmware: []string{"VA40A", "VA50A"},
			Software: "VA", HWRev: "1", OUI: [3]byte{0x00, 0x0e, 0x8c}, SerialPrefix: "", SerialDigits: 6, SpeedMbps: 1000},
		{Class: Imaging, Manufacturer: "Carestream", Name: "DRX-Revolution", ObjectID: oid("1.3.6.1.4.1.29659.1.20"),
			Descr: "Carestream DRX-Revolution Mobile X-ray System {fw}", Firmware: []string{"5.8.1", "6.1.0"},
			Software: "6", HWRev: "B", OUI: [3]byte{0x02, 0x43, 0x53}, SerialPrefix: "DRXR", SerialDigits: 6, SpeedMbps: 1000},
		{Class: Imaging, Manufacturer: "Philips", Name: "Ingenia 1.5T", ObjectID: oid("1.3.6.1.4.1.32985.2.15"),
			Descr: "Philips Ingenia 1.5T MR System R{fw}", Firmware: []string{"5.7.1", "11.1"},
			Software: "R", HWRev: "A", OUI: [3]byte{0x00, 0x09, 0xfb}, SerialPrefix: "MR", SerialDigits: 5, SpeedMbps: 1000},
	},
	NetworkSwitch: {
		{Class: NetworkSwitch, Manufacturer: "Cisco", Name: "C9300-48P", ObjectID: oid("1.3.6.1.4.1.9.1.2494"),
			Descr:    "Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version {fw}, RELEASE SOFTWARE (fc1)",
			Firmware: []string{"17.9.4a", "17.12.3", "17.9.5"}, Software: "IOS-XE", HWRev: "V02", OUI: [3]byte{0x00, 0x00, 0x0c},
			SerialPrefix: "FOC", SerialDigits: 8, Ports: 48, Uplinks: 4, IfName: ciscoPort, SpeedMbps: 1000},
		{Class: NetworkSwitch, Manufacturer: "HPE Aruba", Name: "6300M JL659A", ObjectID: oid("1.3.6.1.4.1.47196.4.1.1.3.123"),
			Descr: "Aruba JL659A 6300M 48SR5 CL6 PoE 4SFP56 Swch {fw}", Firmware: []string{"FL.10.11.1021", "FL.10.13.1000"},
			Software: "FL", HWRev: "A", OUI: [3]byte{0x00, 0x0b, 0x86}, SerialPrefix: "SG", SerialDigits: 8,
			Ports: 48, Uplinks: 4, IfName: arubaPort, SpeedMbps: 1000},
	},
	// CoreSwitch models are drawn for site cores (class NETWORK_SWITCH).
	coreSwitch: {
		{Class: NetworkSwitch, Manufacturer: "Cisco", Name: "C9500-48Y4C", ObjectID: oid("1.3.6.1.4.1.9.1.2589"),
			Descr:    "Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version {fw}, RELEASE SOFTWARE (fc1)",
			Firmware: []string{"17.9.4a", "17.12.3"}, Software: "IOS-XE", HWRev: "V01", OUI: [3]byte{0x00, 0x00, 0x0c},
			SerialPrefix: "FDO", SerialDigits: 8, Ports: 48, Uplinks: 4, IfName: corePort, SpeedMbps: 25000},
	},
	WirelessAP: {
		{Class: WirelessAP, Manufacturer: "HPE Aruba", Name: "AP-535", ObjectID: oid("1.3.6.1.4.1.14823.1.2.102"),
			Descr: "ArubaOS (MODEL: 535), Version {fw}", Firmware: []string{"8.10.0.6", "8.11.2.1"},
			Software: "8", HWRev: "1", OUI: [3]byte{0x00, 0x0b, 0x86}, SerialPrefix: "CNK", SerialDigits: 7, SpeedMbps: 2500, LLDP: true},
		{Class: WirelessAP, Manufacturer: "HPE Aruba", Name: "IAP-505", ObjectID: oid("1.3.6.1.4.1.14823.1.2.96"),
			Descr: "ArubaOS (MODEL: 505), Version {fw}", Firmware: []string{"8.10.0.6"},
			Software: "8", HWRev: "1", OUI: [3]byte{0x00, 0x0b, 0x86}, SerialPrefix: "CNL", SerialDigits: 7, SpeedMbps: 1000, LLDP: true},
	},
	UPS: {
		{Class: UPS, Manufacturer: "APC", Name: "Smart-UPS SRT 3000", ObjectID: oid("1.3.6.1.4.1.318.1.3.27"),
			Descr:    "APC Web/SNMP Management Card (MB:v4.1.0 PF:v{fw} PN:apc_hw05_aos_{fwn}.bin MN:AP9631 HR:05 SN: {serial}) (Embedded PowerNet SNMP Agent SW v2.2 compatible)",
			Firmware: []string{"6.9.6", "7.0.4"}, Software: "UPS 09.8", HWRev: "05", OUI: [3]byte{0x00, 0xc0, 0xb7},
			SerialPrefix: "AS", SerialDigits: 10, SpeedMbps: 100},
		{Class: UPS, Manufacturer: "Eaton", Name: "9PX 3000i RT2U", ObjectID: oid("1.3.6.1.4.1.534.1"),
			Descr: "Eaton Network-M2 card for 9PX 3000i RT2U, firmware {fw}", Firmware: []string{"2.0.5", "3.1.0"},
			Software: "3", HWRev: "B", OUI: [3]byte{0x02, 0x45, 0x54}, SerialPrefix: "G", SerialDigits: 9, SpeedMbps: 100},
	},
	Printer: {
		{Class: Printer, Manufacturer: "HP", Name: "LaserJet Enterprise M611dn", ObjectID: oid("1.3.6.1.4.1.11.2.3.9.1"),
			Descr:    "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM {fw},CIDATE 05/13/2022",
			Firmware: []string{"JSI23900015", "JSI24900021"}, Software: "2409", HWRev: "1", OUI: [3]byte{0x02, 0x48, 0x50},
			SerialPrefix: "PHB", SerialDigits: 7, SpeedMbps: 1000},
		{Class: Printer, Manufacturer: "Zebra", Name: "ZD621", ObjectID: oid("1.3.6.1.4.1.10642.1.1"),
			Descr: "ZebraNet Print Server ZD621-203dpi V{fw}", Firmware: []string{"93.21.15Z", "93.21.21Z"},
			Software: "93", HWRev: "1", OUI: [3]byte{0x00, 0x07, 0x4d}, SerialPrefix: "D4J", SerialDigits: 9, SpeedMbps: 100},
		{Class: Printer, Manufacturer: "Lexmark", Name: "MS821dn", ObjectID: oid("1.3.6.1.4.1.641.1.5.7"),
			Descr: "Lexmark MS821dn version MSNGM.{fw} kernel 4.11.12-yocto-standard All-N-1", Firmware: []string{"230.037", "240.210"},
			Software: "230", HWRev: "1", OUI: [3]byte{0x00, 0x04, 0x00}, SerialPrefix: "4063", SerialDigits: 8, SpeedMbps: 1000},
	},
	HL7Gateway: {
		{Class: HL7Gateway, Manufacturer: "Philips", Name: "IntelliBridge Enterprise", ObjectID: oid("1.3.6.1.4.1.19816.5.1"),
			Descr: "Philips IntelliBridge Enterprise HL7 interface engine B.{fw}", Firmware: []string{"02.00", "03.01"},
			Software: "B", HWRev: "1", OUI: [3]byte{0x00, 0x09, 0xfb}, SerialPrefix: "IBE", SerialDigits: 6, SpeedMbps: 1000, LLDP: true},
		{Class: HL7Gateway, Manufacturer: "Capsule Technologie", HL7Manufacturer: "Philips Capsule", Name: "Capsule Neuron 3", ObjectID: oid("1.3.6.1.4.1.55027.1.3"),
			Descr: "Capsule Neuron 3 medical device integration gateway {fw}", Firmware: []string{"10.2.1", "11.0.3"},
			Software: "11", HWRev: "3", OUI: [3]byte{0x02, 0x43, 0x54}, SerialPrefix: "N3", SerialDigits: 8, SpeedMbps: 1000, LLDP: true},
	},
	Workstation: {
		{Class: Workstation, Manufacturer: "Dell", Name: "OptiPlex 7010", ObjectID: oid("1.3.6.1.4.1.311.1.1.3.1.1"),
			Descr:    "Hardware: Intel64 Family 6 Model 183 Stepping 1 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build {fw} Multiprocessor Free)",
			Firmware: []string{"19045", "22631"}, Software: "Windows", HWRev: "A01", OUI: [3]byte{0x00, 0x14, 0x22},
			SerialPrefix: "", SerialDigits: 7, SpeedMbps: 1000, LLDP: true},
	},
}

// descr renders a model's sysDescr for a firmware version and serial. It runs on
// every sysDescr read, so it expands the template by hand.
func (m *Model) descr(fw, serial string) string {
	t := m.Descr
	var b strings.Builder
	b.Grow(len(t) + len(fw) + len(serial))
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		t = t[i:]
		switch {
		case strings.HasPrefix(t, "{model}"):
			b.WriteString(m.Name)
			t = t[len("{model}"):]
		case strings.HasPrefix(t, "{fw}"):
			b.WriteString(fw)
			t = t[len("{fw}"):]
		case strings.HasPrefix(t, "{fwn}"):
			b.WriteString(strings.ReplaceAll(fw, ".", ""))
			t = t[len("{fwn}"):]
		case strings.HasPrefix(t, "{serial}"):
			b.WriteString(serial)
			t = t[len("{serial}"):]
		default:
			b.WriteByte('{')
			t = t[1:]
		}
	}
}
