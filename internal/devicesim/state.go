package devicesim

import "fmt"

// Failure control: what scenarios and the control endpoint do to devices. Each change
// sends the notifications a real network would: the device's switch reports the link,
// a device coming back sends coldStart, a UPS its UPS-MIB traps.

// SetDown switches a device off (down) or on again. A device switched on has
// rebooted: its sysUpTime starts from zero and it sends coldStart. A switch that goes
// down takes every device behind it off the network.
func (s *Sim) SetDown(d *Device, down bool) {
	if d.st.down.Swap(down) == down {
		return
	}
	now := s.now().UnixNano()
	d.touch(now)
	if down {
		s.linkTraps(d, false)
		s.kickHL7(d)
		return
	}
	d.reboot(now)
	if d.Reachable() {
		s.SendTrap(d, TrapColdStart, nil)
	}
	s.linkTraps(d, true)
	s.kickHL7(d)
}

// linkTraps has the switches d is plugged into report its port going down or up.
func (s *Sim) linkTraps(d *Device, up bool) {
	for _, l := range []struct {
		sw   *Device
		port uint16
	}{{d.Uplink, d.Port}, {d.Uplink2, d.Port2}} {
		if l.sw != nil && l.sw.Reachable() {
			l.sw.touch(s.now().UnixNano())
			s.SendTrap(l.sw, linkTrap(up), linkVars(l.sw, int(l.port), up))
		}
	}
	if d.core {
		// The core interconnect.
		for _, c := range d.Unit.Site.Cores {
			if c != d && c.Reachable() {
				s.SendTrap(c, linkTrap(up), linkVars(c, c.Model.Ports+1, up))
			}
		}
	}
}

func linkTrap(up bool) []uint32 {
	if up {
		return TrapLinkUp
	}
	return TrapLinkDown
}

// Reboot restarts a device: sysUpTime and snmpEngineTime restart from zero,
// snmpEngineBoots goes up by one, and it sends coldStart.
func (s *Sim) Reboot(d *Device) {
	d.reboot(s.now().UnixNano())
	if d.Reachable() {
		s.SendTrap(d, TrapColdStart, nil)
	}
}

// SetFirmware installs a firmware version ("" for the next one the model ships) and
// reboots the device, as a firmware update does.
func (s *Sim) SetFirmware(d *Device, version string) string {
	if version == "" {
		cur := d.Firmware()
		version = d.Model.Firmware[0]
		for i, v := range d.Model.Firmware {
			if v == cur {
				version = d.Model.Firmware[(i+1)%len(d.Model.Firmware)]
			}
		}
		if version == cur {
			version = cur + "-hotfix1"
		}
	}
	d.st.firmware.Store(&version)
	s.Reboot(d)
	return version
}

// SetUPS changes a UPS's power state and sends the UPS-MIB notifications.
func (s *Sim) SetUPS(d *Device, st UPSState) {
	prev := UPSState(d.st.ups.Swap(uint32(st)))
	if prev == st {
		return
	}
	now := s.now().UnixNano()
	if prev == UPSOnline {
		d.st.upsSince.Store(now)
	}
	if !d.Reachable() {
		return
	}
	switch st {
	case UPSOnBattery:
		if prev == UPSOnline {
			s.SendTrap(d, TrapUPSOnBattery, upsVars(d, now))
			s.SendTrap(d, TrapUPSAlarmAdded, upsAlarmVars(1, upsAlarmOnBattery))
		}
	case UPSBatteryLow:
		if prev == UPSOnline {
			s.SendTrap(d, TrapUPSOnBattery, upsVars(d, now))
		}
		s.SendTrap(d, TrapUPSAlarmAdded, upsAlarmVars(2, upsAlarmLowBattery))
	case UPSOnline:
		if prev == UPSBatteryLow {
			s.SendTrap(d, TrapUPSAlarmRemove, upsAlarmVars(2, upsAlarmLowBattery))
		}
		s.SendTrap(d, TrapUPSAlarmRemove, upsAlarmVars(1, upsAlarmOnBattery))
	}
}

// SetLink takes a switch port administratively down or up (a cut cable, a port
// shut by mistake): whatever is behind the port becomes unreachable.
func (s *Sim) SetLink(sw *Device, port int, up bool) error {
	if sw.sw == nil || port < 1 || port > len(sw.sw.ports) || port > 64 {
		return fmt.Errorf("%s has no port %d", sw.Name, port)
	}
	bit := uint64(1) << (port - 1)
	var changed bool
	for {
		old := sw.st.linkDown.Load()
		nv := old | bit
		if up {
			nv = old &^ bit
		}
		if sw.st.linkDown.CompareAndSwap(old, nv) {
			changed = old != nv
			break
		}
	}
	if changed && sw.Reachable() {
		sw.touch(s.now().UnixNano())
		s.SendTrap(sw, linkTrap(up), linkVars(sw, port, up))
	}
	return nil
}
