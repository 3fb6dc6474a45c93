// Package devicesim is a simulated hospital: a generated layout of sites, units, rooms
// and beds with the devices a real one has, and an SNMP agent for each device, up to
// hundreds of thousands of them in one process on one UDP socket. Tests, benchmarks
// and `cmdb demo` use it as a library; cmd/devicesim is a thin command around it.
//
// # Layout
//
// Generate(LayoutOptions{Seed, Devices, Base}) returns a *Hospital: Sites (each with
// a core switch pair, HL7 gateways and a UPS in its data-centre unit), Units (one care
// area each: ICU, NICU, ED, OR, STEP_DOWN, WARD, OUTPATIENT, LAB, PHARMACY, ADMIN,
// with one address block, access switches, APs and the unit's devices) and Devices in
// address order. The same seed and size always give the same hospital: names, serial
// numbers, MACs, EUI-64s and engine IDs are stable. Every device gets one address in
// 127.0.0.0/8 (from 127.10.0.0 by default), which Linux answers on loopback without
// configuration (LayoutOptions.Spacing spreads them out, e.g. one in 16 addresses for
// sweep benchmarks). Each device sits on a port of its unit's access switch, and each
// access switch has one uplink to each core. Devices that speak HL7 (monitors, pumps,
// ventilators, anaesthesia machines, gateways) say so with Class.SpeaksHL7, carry an
// EUI-64 (Device.EUI64) and name the gateway they report through (Device.Gateway), so
// HL7 senders can be added on top.
//
// # Agents
//
// New(h, Config{Listen: "0.0.0.0:0"}) binds the socket (Addr and Port are valid on
// return; AgentAddr(d) is where device d answers) and Run(ctx) serves until ctx ends.
// The socket learns each datagram's destination address with IP_PKTINFO and answers
// from it, so one socket serves every device (Linux only). Agents answer Get,
// GetNext and GetBulk in v1 and v2c (communities from Config.Communities, default
// "public") and v3 USM (Config.Users, default DefaultUsers: SHA/AES, SHA256/AES256,
// MD5/DES, SHA/AES256C, SHA512 without privacy, and a noAuthNoPriv user), including
// engine discovery and time-window reports. They implement the system group, IF-MIB
// (ifTable and ifXTable), ENTITY-MIB (entPhysicalTable, one chassis), the snmpEngine
// group, and by class UPS-MIB (UPSs), BRIDGE-MIB base port and forwarding tables and
// LLDP-MIB local and remote tables (switches), and on cores a routed VLAN interface
// per unit (ifIndex 1000+VLAN) with the site's ARP table (ipNetToMediaTable). Values are computed from the device on
// each request; a device costs a few hundred bytes, not an OID tree.
//
// # HL7
//
// NewHL7(sim, HL7Config{Addr: collector's hl7.listen}) prepares an MLLP sender for
// every HL7 device and Run sends until ctx ends, over a bounded number of connections:
// ConnsPerGateway per gateway, carrying the gateway's own NMD^N02 heartbeats and, for
// each device behind it, an IHE PCD-01 ORU^R01 every Interval (MSH-3 the gateway,
// OBX-18 the device's EUI-64, MEM-DMC manufacturer/model/serial/software/firmware on
// the first and every IdentityEvery-th message, battery charge, and while a patient is
// connected a synthetic patient (hl7test) and a few measurements); devices without a
// gateway (anaesthesia machines) share direct connections and send NMD^N02 with a
// PCD-01 now and then. A technical alarm goes out at once as a PCD-04 ORU^R40 (start,
// continue with each periodic message, end). Every message waits for its ACK: HL7Stats
// counts AA, AE, AR and failures. A device that is down or cut off sends nothing, and
// a gateway that is down closes its connections, silencing the devices behind it.
//
// # Failures
//
// SetDown, Reboot, SetFirmware, SetUPS and SetLink change one device at once and send
// the notifications a network would (coldStart, linkDown/linkUp from the switch,
// UPS-MIB traps) to Config.Traps in v1, v2c or v3 (SetTraps replaces them). A switch
// that is down takes every device behind it off the network (Device.Reachable).
// SetHL7Silent, SetAlarm, SetBatteryLow and SetPatient change what an HL7 device
// reports. Apply runs an Event (the same actions by name, with a Selector for the
// target and an optional revert after For); RunScenario plays a Scenario, a YAML
// timeline (DefaultScenario is the two-minute one `cmdb demo` uses) with times scaled
// by a factor. OnEvent tells a listener about
// every applied event, including collector_down/collector_up, which concern no device
// and are for whoever runs the collector. NewControl serves the same on HTTP, on
// loopback only: GET /devices, POST /devices/NAME/ACTION, POST /events, GET /events.
//
// # Example
//
//	h, _ := devicesim.Generate(devicesim.LayoutOptions{Seed: 1, Devices: 10_000})
//	sim, _ := devicesim.New(h, devicesim.Config{Listen: "0.0.0.0:0"})
//	go sim.Run(ctx)
//	target := sim.AgentAddr(h.Devices[42]) // poll it with any SNMP client
//	sim.SetDown(h.Devices[42], true)       // and now it times out
package devicesim
