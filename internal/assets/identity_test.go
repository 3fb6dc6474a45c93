package assets_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// Observation options for the identity table.
type opt func(*observation.Observation)

func ip(addr string) opt {
	return func(o *observation.Observation) { o.Address = &observation.Address{IP: addr, Port: 161} }
}
func name(n string) opt    { return func(o *observation.Observation) { o.Identity.SysName = n } }
func eui(e string) opt     { return func(o *observation.Observation) { o.Identity.EUI64 = e } }
func app(a string) opt     { return func(o *observation.Observation) { o.Identity.HL7App = a } }
func macs(m ...string) opt { return func(o *observation.Observation) { o.Identity.MACs = m } }
func serial(mfr, s string) opt {
	return func(o *observation.Observation) { o.Identity.Manufacturer, o.Identity.Serial = mfr, s }
}
func loc(l observation.Location) opt { return func(o *observation.Observation) { o.Location = &l } }
func hl7() opt {
	return func(o *observation.Observation) {
		o.Source = observation.SourceHL7
		o.Collector = "c1"
		o.Address = nil
	}
}

// step is one thing that happens in an identity scenario.
type step struct {
	obs    []opt
	manual *assets.Edit // else: a manual edit of the asset called target, by alice
	target string
}

func see(o ...opt) step { return step{obs: o} }

// render describes every current asset, sorted, so a case can state them exactly.
func render(svc *assets.Service) []string {
	var out []string
	svc.Each(func(a *assets.Asset) {
		l := a.Location
		s := fmt.Sprintf("%s ip=%s mac=%s eui=%s serial=%s/%s app=%s src=%s loc=%s/%s/%s/%s/%s",
			a.Name, strings.Join(a.IPAddresses, ","), strings.Join(a.MACAddresses, ","), a.EUI64,
			a.Manufacturer, a.SerialNumber, a.HL7App, strings.Join(a.Sources, ","),
			l.Building, l.Unit, l.CareArea, l.Room, l.Bed)
		if len(a.MergedFrom) > 0 {
			s += fmt.Sprintf(" merged=%d", len(a.MergedFrom))
		}
		out = append(out, s)
	})
	slices.Sort(out)
	return out
}

// trail renders an asset's history oldest first as "source field: before -> after".
func trail(t *testing.T, svc *assets.Service, a *assets.Asset) []string {
	t.Helper()
	hist, err := svc.History(context.Background(), a, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(hist) - 1; i >= 0; i-- {
		h := hist[i]
		if h.Field == "created" {
			out = append(out, h.Source+" created")
			continue
		}
		out = append(out, fmt.Sprintf("%s %s: %s -> %s", h.Source, h.Field, h.Before, h.After))
	}
	return out
}

func byName(t *testing.T, svc *assets.Service, n string) *assets.Asset {
	t.Helper()
	var found *assets.Asset
	svc.Each(func(a *assets.Asset) {
		if a.Name == n {
			found = a
		}
	})
	if found == nil {
		t.Fatalf("no asset named %q in %v", n, render(svc))
	}
	return found
}

func TestIdentityTable(t *testing.T) {
	const (
		m1, m2 = "00:11:22:33:44:01", "00:11:22:33:44:02"
		e1     = "0012A1FFFE000001"
	)
	icu := observation.Location{Building: "Tower A", Unit: "ICU-3", CareArea: "ICU"}
	room := "12"
	unit := "ICU-4"
	cases := []struct {
		name    string
		steps   []step
		assets  []string
		history map[string][]string // by asset name
	}{
		{
			name: "IP reused by another device after DHCP",
			steps: []step{
				see(ip("10.0.0.7"), name("mon-a"), macs(m1)),
				see(ip("10.0.0.7"), name("mon-b"), macs(m2)),
			},
			assets: []string{
				"mon-a ip= mac=00:11:22:33:44:01 eui= serial=/ app= src=SNMP loc=////",
				"mon-b ip=10.0.0.7 mac=00:11:22:33:44:02 eui= serial=/ app= src=SNMP loc=////",
			},
			history: map[string][]string{
				"mon-a": {
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> mon-a", "SNMP_POLL sysDescr:  -> d", "SNMP_POLL name:  -> mon-a",
					"SNMP_POLL ipAddresses:  -> 10.0.0.7", "SNMP_POLL macAddresses:  -> 00:11:22:33:44:01",
					"SNMP_POLL status: UNKNOWN -> OPERATIONAL",
					"SNMP_POLL ipAddresses: 10.0.0.7 -> ",
				},
				"mon-b": {
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> mon-b", "SNMP_POLL sysDescr:  -> d", "SNMP_POLL name:  -> mon-b",
					"SNMP_POLL ipAddresses:  -> 10.0.0.7", "SNMP_POLL macAddresses:  -> 00:11:22:33:44:02",
					"SNMP_POLL status: UNKNOWN -> OPERATIONAL",
				},
			},
		},
		{
			name: "one device seen first by SNMP then by HL7",
			steps: []step{
				see(ip("10.0.0.20"), name("mon-20"), serial("Philips", "SN-1"), loc(icu)),
				see(hl7(), eui(e1), serial("Philips", "SN-1"), app("MON20"),
					loc(observation.Location{Unit: "ICU-3", Room: "7", Bed: "2"})),
			},
			assets: []string{
				"mon-20 ip=10.0.0.20 mac= eui=0012A1FFFE000001 serial=Philips/SN-1 app=MON20 src=HL7,SNMP loc=Tower A/ICU-3/ICU/7/2",
			},
			history: map[string][]string{
				"mon-20": {
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> mon-20", "SNMP_POLL sysDescr:  -> d",
					"SNMP_POLL manufacturer:  -> Philips", "SNMP_POLL serialNumber:  -> SN-1", "SNMP_POLL name:  -> mon-20",
					"SNMP_POLL location.building:  -> Tower A", "SNMP_POLL location.unit:  -> ICU-3", "SNMP_POLL location.careArea:  -> ICU",
					"SNMP_POLL ipAddresses:  -> 10.0.0.20", "SNMP_POLL status: UNKNOWN -> OPERATIONAL",
					"HL7 eui64:  -> 0012A1FFFE000001", "HL7 hl7App:  -> MON20",
					"HL7 location.room:  -> 7", "HL7 location.bed:  -> 2",
				},
			},
		},
		{
			name: "the same serial from two manufacturers is two devices",
			steps: []step{
				see(ip("10.0.1.1"), name("pump-acme"), serial("Acme", "123")),
				see(ip("10.0.1.2"), name("pump-zeta"), serial("Zeta", "123")),
				// The Acme pump moves address and is still itself.
				see(ip("10.0.1.3"), name("pump-acme"), serial("Acme", "123")),
			},
			assets: []string{
				"pump-acme ip=10.0.1.3,10.0.1.1 mac= eui= serial=Acme/123 app= src=SNMP loc=////",
				"pump-zeta ip=10.0.1.2 mac= eui= serial=Zeta/123 app= src=SNMP loc=////",
			},
			history: map[string][]string{
				"pump-zeta": {
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> pump-zeta", "SNMP_POLL sysDescr:  -> d",
					"SNMP_POLL manufacturer:  -> Zeta", "SNMP_POLL serialNumber:  -> 123", "SNMP_POLL name:  -> pump-zeta",
					"SNMP_POLL ipAddresses:  -> 10.0.1.2", "SNMP_POLL status: UNKNOWN -> OPERATIONAL",
				},
			},
		},
		{
			name: "a MAC that changes after a NIC swap",
			steps: []step{
				see(ip("10.0.2.5"), name("vent-1"), macs(m1)),
				see(ip("10.0.2.5"), name("vent-1"), macs(m2)),
			},
			assets: []string{
				"vent-1 ip=10.0.2.5 mac=00:11:22:33:44:02 eui= serial=/ app= src=SNMP loc=////",
			},
			history: map[string][]string{
				"vent-1": {
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> vent-1", "SNMP_POLL sysDescr:  -> d", "SNMP_POLL name:  -> vent-1",
					"SNMP_POLL ipAddresses:  -> 10.0.2.5", "SNMP_POLL macAddresses:  -> 00:11:22:33:44:01",
					"SNMP_POLL status: UNKNOWN -> OPERATIONAL",
					"SNMP_POLL macAddresses: 00:11:22:33:44:01 -> 00:11:22:33:44:02",
				},
			},
		},
		{
			name: "a manual location survives rediscovery",
			steps: []step{
				see(ip("10.0.3.9"), name("pump-9"), loc(icu)),
				{target: "pump-9", manual: &assets.Edit{Room: &room, Unit: &unit}},
				see(ip("10.0.3.9"), name("pump-9"), loc(observation.Location{Building: "Tower A", Unit: "ICU-3", CareArea: "ICU", Raw: "room=99"})),
				see(hl7(), name("pump-9"), app("PUMP9"), loc(observation.Location{Unit: "ICU-5", Room: "1", Bed: "1"})),
			},
			assets: []string{
				"pump-9 ip=10.0.3.9 mac= eui= serial=/ app=PUMP9 src=HL7,SNMP loc=Tower A/ICU-4/ICU/12/1",
			},
			history: map[string][]string{
				"pump-9": {
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> pump-9", "SNMP_POLL sysDescr:  -> d", "SNMP_POLL name:  -> pump-9",
					"SNMP_POLL location.building:  -> Tower A", "SNMP_POLL location.unit:  -> ICU-3", "SNMP_POLL location.careArea:  -> ICU",
					"SNMP_POLL ipAddresses:  -> 10.0.3.9", "SNMP_POLL status: UNKNOWN -> OPERATIONAL",
					"MANUAL location.unit: ICU-3 -> ICU-4", "MANUAL location.room:  -> 12",
					"SNMP_POLL sysLocation:  -> room=99",
					"HL7 hl7App:  -> PUMP9", "HL7 location.bed:  -> 1",
				},
			},
		},
		{
			name: "an HL7-first and an SNMP-first record merge when SNMP reports the EUI-64",
			steps: []step{
				see(hl7(), eui(e1), app("MON7"), loc(observation.Location{Unit: "ICU-3", Bed: "7"})),
				see(ip("10.0.4.7"), name("mon-7"), macs(m1)),
				see(ip("10.0.4.7"), name("mon-7"), macs(m1), eui(e1)),
			},
			assets: []string{
				"mon-7 ip=10.0.4.7 mac=00:11:22:33:44:01 eui=0012A1FFFE000001 serial=/ app=MON7 src=HL7,SNMP loc=/ICU-3///7 merged=1",
			},
			history: map[string][]string{
				"mon-7": {
					"HL7 created",
					"HL7 eui64:  -> 0012A1FFFE000001", "HL7 hl7App:  -> MON7", "HL7 name:  -> MON7",
					"HL7 location.unit:  -> ICU-3", "HL7 location.bed:  -> 7", "HL7 status: UNKNOWN -> OPERATIONAL",
					"SNMP_POLL created",
					"SNMP_POLL sysName:  -> mon-7", "SNMP_POLL sysDescr:  -> d", "SNMP_POLL name:  -> mon-7",
					"SNMP_POLL ipAddresses:  -> 10.0.4.7", "SNMP_POLL macAddresses:  -> 00:11:22:33:44:01",
					"SNMP_POLL status: UNKNOWN -> OPERATIONAL",
					"SNMP_POLL mergedFrom:  -> <merged>",
					"SNMP_POLL sysDescr:  -> d", "SNMP_POLL sysName:  -> mon-7",
					"SNMP_POLL ipAddresses:  -> 10.0.4.7", "SNMP_POLL macAddresses:  -> 00:11:22:33:44:01",
					"SNMP_POLL sources: HL7 -> HL7,SNMP",
					"SNMP_POLL name: MON7 -> mon-7",
				},
			},
		},
		{
			name: "records merge on manufacturer+serial and MAC, never on an IP alone",
			steps: []step{
				see(hl7(), eui(e1), serial("Baxter", "SIG-9"), app("PUMP-A")),
				see(ip("10.0.5.9"), name("pump-a"), macs(m1)),
				// Another device gets the address (DHCP): not a merge, not the pump.
				see(ip("10.0.5.9"), name("other"), macs(m2)),
				see(ip("10.0.5.10"), name("pump-a"), macs(m1), serial("Baxter", "SIG-9")),
			},
			assets: []string{
				"other ip=10.0.5.9 mac=00:11:22:33:44:02 eui= serial=/ app= src=SNMP loc=////",
				"pump-a ip=10.0.5.10 mac=00:11:22:33:44:01 eui=0012A1FFFE000001 serial=Baxter/SIG-9 app=PUMP-A src=HL7,SNMP loc=//// merged=1",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var mergedID string
			for _, s := range tc.steps {
				if s.manual != nil {
					a := byName(t, f.svc, s.target)
					f.now = f.now.Add(1e9)
					if _, err := f.svc.Update(context.Background(), a.ID, *s.manual, "user:alice", "req-edit"); err != nil {
						t.Fatal(err)
					}
					continue
				}
				o := f.obs(func(o *observation.Observation) {
					o.Identity.SysDescr = "d"
					for _, fn := range s.obs {
						fn(o)
					}
					if o.Source == observation.SourceHL7 {
						o.Identity.SysDescr = ""
					}
				})
				out := f.apply(o)[0]
				if out.Asset.MergedInto != "" {
					t.Fatalf("an observation was applied to a merged record")
				}
			}
			got := render(f.svc)
			if !slices.Equal(got, tc.assets) {
				t.Fatalf("assets:\n got %q\nwant %q", got, tc.assets)
			}
			for n, want := range tc.history {
				a := byName(t, f.svc, n)
				if len(a.MergedFrom) > 0 {
					mergedID = a.MergedFrom[0]
					for i, w := range want {
						want[i] = strings.ReplaceAll(w, "<merged>", mergedID)
					}
				}
				if got := trail(t, f.svc, a); !slices.Equal(got, want) {
					t.Fatalf("history of %s:\n got %q\nwant %q", n, got, want)
				}
			}
			// A restart reads the same thing back from the store.
			f.open()
			if again := render(f.svc); !slices.Equal(again, tc.assets) {
				t.Fatalf("after restart:\n got %q\nwant %q", again, tc.assets)
			}
			if mergedID != "" {
				m, ok := f.svc.Get(mergedID)
				if !ok || m.MergedInto != "" || !slices.Contains(m.MergedFrom, mergedID) {
					t.Fatalf("the merged record %s does not lead to its survivor", mergedID)
				}
			}
		})
	}
}
