package devicesim

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Device is one simulated agent. Identity and topology are fixed at generation; the
// state that failures change lives in atomics so agents read it without locks.
// MIB values are computed from these fields on each request: no per-device OID tree.
type Device struct {
	Index  int32
	Class  Class
	Model  *Model
	Unit   *Unit
	Name   string // sysName, unique in the hospital
	Serial string
	MAC    [6]byte
	Room   uint16 // 0 when not in a patient room
	Bed    uint8  // 0 when not at a bed

	// Uplink is the switch this device is plugged into: its port Port, on our local
	// port (ifIndex) UplinkLocal. Access switches have a second uplink to the other core.
	Uplink       *Device
	Port         uint16
	UplinkLocal  uint16
	Uplink2      *Device
	Port2        uint16
	Uplink2Local uint16
	// Gateway is the HL7 gateway an HL7-speaking device reports through.
	Gateway *Device
	// Power is the UPS feeding the device (access switches of ICU/OR racks, cores).
	Power *Device

	sw     *switchData // switches only
	core   bool
	ip     uint32
	fw     uint8
	upDays uint16
	boots0 int32

	st deviceState
}

// deviceState is what scenarios change. Times are Unix nanoseconds.
type deviceState struct {
	down      atomic.Bool
	bootAt    atomic.Int64
	boots     atomic.Int32
	firmware  atomic.Pointer[string] // nil: the model's version chosen at generation
	linkDown  atomic.Uint64          // switches: bit p-1 set when port p is down
	ups       atomic.Uint32          // UPSState
	upsSince  atomic.Int64           // when the UPS went on battery
	changedAt atomic.Int64           // last state change, for ifLastChange

	// What HL7 devices report (hl7state.go).
	hl7Off  atomic.Bool            // the HL7 interface stopped sending
	alarm   atomic.Pointer[string] // active technical alarm (MDC event), nil when none
	battLow atomic.Bool
	patient atomic.Int32 // patientAsGenerated, patientBound or patientUnbound
}

// UPSState is a UPS's power situation.
type UPSState uint32

// UPS states.
const (
	UPSOnline UPSState = iota
	UPSOnBattery
	UPSBatteryLow
)

func (s UPSState) String() string {
	switch s {
	case UPSOnBattery:
		return "on_battery"
	case UPSBatteryLow:
		return "battery_low"
	}
	return "online"
}

// IP returns the device's agent address.
func (d *Device) IP() netip.Addr { return addr4(d.ip) }

// IsCore reports whether the device is one of its site's core switches.
func (d *Device) IsCore() bool { return d.core }

// EUI64 returns the device's EUI-64 (the MAC-48 with FFFE inserted), as HL7 devices
// report it in OBX-18, or "" for devices that do not speak HL7.
func (d *Device) EUI64() string {
	if !d.Class.SpeaksHL7() {
		return ""
	}
	b := [8]byte{d.MAC[0], d.MAC[1], d.MAC[2], 0xff, 0xfe, d.MAC[3], d.MAC[4], d.MAC[5]}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// MACString returns the MAC as aa:bb:cc:dd:ee:ff.
func (d *Device) MACString() string { return macString(d.MAC) }

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// portMAC is the MAC of a switch port or an AP radio: the base MAC plus n.
func (d *Device) portMAC(n int) [6]byte {
	m := d.MAC
	v := uint32(m[3])<<16 | uint32(m[4])<<8 | uint32(m[5])
	v += uint32(n)
	m[3], m[4], m[5] = byte(v>>16), byte(v>>8), byte(v)
	return m
}

// Firmware returns the firmware version the device runs now.
func (d *Device) Firmware() string {
	if p := d.st.firmware.Load(); p != nil {
		return *p
	}
	return d.Model.Firmware[d.fw]
}

// SysDescr returns the device's sysDescr now.
func (d *Device) SysDescr() string { return d.Model.descr(d.Firmware(), d.Serial) }

// Location is a sysLocation-style description of where the device is.
func (d *Device) Location() string {
	u := d.Unit
	floor := max(u.Floor, 0)
	var b strings.Builder
	b.Grow(80)
	b.WriteString(u.Site.Name)
	b.WriteString(", ")
	b.WriteString(u.Building)
	if u.Floor > 0 {
		b.WriteString(", Floor ")
		b.WriteString(strconv.Itoa(u.Floor))
	}
	b.WriteString(", ")
	b.WriteString(u.Name)
	switch {
	case d.Room > 0:
		b.WriteString(", Room ")
		b.WriteString(strconv.Itoa(floor*100 + int(d.Room)))
		if d.Bed > 0 {
			b.WriteString(", Bed ")
			b.WriteByte('A' + d.Bed - 1)
		}
	case d.Class == NetworkSwitch || d.Class == UPS:
		b.WriteString(", IDF ")
		b.WriteString(strconv.Itoa(floor))
	}
	return b.String()
}

// Contact is the sysContact of the device: who looks after it.
func (d *Device) Contact() string {
	switch d.Class {
	case NetworkSwitch, WirelessAP, UPS, Workstation, Printer:
		return "Network Operations Center, noc@hospital.example, x4400"
	}
	return "Biomedical Engineering, biomed@hospital.example, x4100"
}

// Down reports whether the device itself is switched off or failed.
func (d *Device) Down() bool { return d.st.down.Load() }

// Reachable reports whether the device answers: it is up and some path of switches
// to a core is up.
func (d *Device) Reachable() bool {
	if d.st.down.Load() {
		return false
	}
	if d.Uplink == nil {
		return true
	}
	if d.linkUp(d.UplinkLocal) && d.Uplink.linkUp(d.Port) && d.Uplink.Reachable() {
		return true
	}
	return d.Uplink2 != nil && d.linkUp(d.Uplink2Local) && d.Uplink2.linkUp(d.Port2) && d.Uplink2.Reachable()
}

func (d *Device) linkUp(port uint16) bool {
	if port == 0 || port > 64 {
		return true
	}
	return d.st.linkDown.Load()&(1<<(port-1)) == 0
}

// PortUp reports whether a switch port is up: administratively (scenario link_down)
// and physically (something alive is plugged in).
func (d *Device) PortUp(port int) bool {
	if d.sw == nil || port < 1 || port > len(d.sw.ports) {
		return false
	}
	peer := d.sw.ports[port-1]
	return peer != nil && d.linkUp(uint16(port)) && !peer.Down()
}

// Boots returns snmpEngineBoots.
func (d *Device) Boots() int32 { return d.st.boots.Load() }

// BootTime returns when the device last started.
func (d *Device) BootTime() time.Time { return time.Unix(0, d.st.bootAt.Load()) }

// UPS returns a UPS's power state.
func (d *Device) UPS() UPSState { return UPSState(d.st.ups.Load()) }

// upTicks is sysUpTime in hundredths of a second (wrapping at 2^32 as TimeTicks do).
func (d *Device) upTicks(now int64) uint32 {
	return uint32((now - d.st.bootAt.Load()) / 1e7)
}

// engineTime is snmpEngineTime: seconds since the last boot.
func (d *Device) engineTime(now int64) int32 {
	return int32((now - d.st.bootAt.Load()) / 1e9)
}

// engineID is the RFC 3411 snmpEngineID: enterprise number with the high bit set,
// format 3 (MAC address), the device's MAC.
func (d *Device) engineID(dst []byte) []byte {
	ent := uint32(8072)
	if len(d.Model.ObjectID) > 6 {
		ent = d.Model.ObjectID[6]
	}
	dst = append(dst, byte(ent>>24)|0x80, byte(ent>>16), byte(ent>>8), byte(ent), 3)
	return append(dst, d.MAC[:]...)
}

// EngineID returns the device's snmpEngineID in hex, as net-snmp's -e flag takes it.
func (d *Device) EngineID() string { return hex.EncodeToString(d.engineID(nil)) }

// ifCount is the number of interfaces the device has.
func (d *Device) ifCount() int {
	switch d.Class {
	case NetworkSwitch:
		if d.core {
			return len(d.sw.ports) + len(d.Unit.Site.Units)
		}
		return len(d.sw.ports)
	case WirelessAP:
		return 3 // wired port and two radios
	}
	return 1
}

// Ports returns what is plugged into each port of a switch (nil entries are free).
func (d *Device) Ports() []*Device {
	if d.sw == nil {
		return nil
	}
	return d.sw.ports
}

// switchData is what only switches carry: their ports and, built when the simulator
// starts, the forwarding-table and LLDP rows in index order.
type switchData struct {
	ports []*Device // what is plugged into each port (port = index+1)
	fdb   []fdbEntry
	lldp  []uint16 // ports whose neighbour speaks LLDP
}

// fdbEntry is one learnt MAC: valid while dev is up and the port is up.
type fdbEntry struct {
	mac  [6]byte
	port uint16
	dev  *Device
}

func (d *Device) touch(now int64) { d.st.changedAt.Store(now) }

// reset starts (or restarts) the device's clock at now.
func (d *Device) reboot(now int64) {
	d.st.bootAt.Store(now)
	d.st.boots.Add(1)
	d.touch(now)
}
