package rogue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/rogue"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestRogueDeviceOpensSecurityIncident(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	pol, err := incidents.ParsePolicy([]byte(`
rogue_devices:
  enabled: true
  allow:
    - {sys_object_id_prefix: "1.3.6.1.4.1.4242", note: "lab label printers"}
`))
	if err != nil {
		t.Fatal(err)
	}
	ast, err := assets.OpenStore(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger(), Now: clk})
	if err != nil {
		t.Fatal(err)
	}
	det, err := rogue.Open(ctx, rogue.Options{Policy: pol, Logger: testkit.Logger(), Now: clk, DB: st.DB})
	if err != nil {
		t.Fatal(err)
	}
	ist, err := incidents.OpenStore(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := incidents.NewEngine(ctx, ist, det.Source(reg), incidents.EngineOptions{Policy: pol, Logger: testkit.Logger(), Now: clk})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	see := func(ip, mac, oid, class string, clinical bool) *assets.Asset {
		seq++
		o := observation.Observation{ID: fmt.Sprintf("o%d", seq), Collector: "c", Site: "main", ObservedAt: now, ValidUntil: now.Add(time.Hour),
			Source: observation.SourceSNMPSweep, Kind: observation.KindDiscovered, State: observation.StateUp, Conditions: []string{},
			Address:  &observation.Address{IP: ip, Port: 161},
			Identity: observation.Identity{MACs: []string{mac}, SysObjectID: oid, Class: class, SysName: "dev-" + ip},
			Location: &observation.Location{CareArea: "ICU", Unit: "ICU-3"}, Clinical: clinical}
		outs, err := reg.Apply(ctx, []observation.Observation{o}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := det.Observe(ctx, outs); err != nil {
			t.Fatal(err)
		}
		if err := eng.Handle(ctx, outs); err != nil {
			t.Fatal(err)
		}
		return outs[0].Asset
	}
	rogueDev := see("10.20.0.50", "DE:AD:BE:EF:00:01", "1.3.6.1.4.1.99999.7", "", true)
	see("10.20.0.51", "00:11:22:33:44:55", "1.3.6.1.4.1.99999.7", "PATIENT_MONITOR", true) // fingerprinted
	see("10.20.0.52", "00:11:22:33:44:56", "1.3.6.1.4.1.4242.1", "", true)                 // allowed by the policy
	see("10.99.0.53", "00:11:22:33:44:57", "1.3.6.1.4.1.99999.7", "", false)               // not a clinical range

	open, _ := eng.List(incidents.Filter{Open: ptr(true)}, 0, 10)
	if len(open) != 1 || open[0].AssetID != rogueDev.ID || open[0].Condition != observation.CondRogueDevice {
		t.Fatalf("open incidents: %+v", open)
	}
	inc := open[0]
	if inc.Priority != incidents.P4 || !strings.Contains(inc.Title, "unknown device on a clinical network") {
		t.Errorf("incident %s %q: want P4 (class OTHER, ICU, degraded)", inc.Priority, inc.Title)
	}
	if got := det.Rogues(reg); len(got) != 1 || got[0].ID != rogueDev.ID {
		t.Errorf("rogues: %v", got)
	}

	// Approving its OUI over the API clears the condition: the incident resolves.
	if _, err := det.Add(ctx, incidents.AllowRule{OUI: "de-ad-be"}, "user:sec"); err != nil {
		t.Fatal(err)
	}
	if _, err := det.Add(ctx, incidents.AllowRule{OUI: "zz"}, "user:sec"); !errors.Is(err, incidents.ErrInvalidRule) {
		t.Errorf("bad OUI accepted: %v", err)
	}
	now = now.Add(time.Minute)
	if err := eng.ReconcileAll(ctx); err != nil {
		t.Fatal(err)
	}
	if i, _ := eng.Get(inc.ID); i.State != incidents.StateResolved {
		t.Errorf("incident %s after allowing the OUI", i.State)
	}

	// Round trip: a new detector knows the sighting and the allow-list entry.
	again, err := rogue.Open(ctx, rogue.Options{Policy: pol, Logger: testkit.Logger(), DB: st.DB})
	if err != nil {
		t.Fatal(err)
	}
	entries := again.Entries()
	if len(entries) != 2 || entries[0].ID != "policy:0" || entries[1].OUI != "de:ad:be" || entries[1].CreatedBy != "user:sec" {
		t.Fatalf("entries after reload: %+v", entries)
	}
	a, _ := reg.Get(rogueDev.ID)
	if again.Rogue(a) || again.Allowed(a) != entries[1].ID {
		t.Errorf("reloaded detector: rogue %v, allowed by %q", again.Rogue(a), again.Allowed(a))
	}
	if err := again.Remove(ctx, entries[1].ID, "user:sec"); err != nil {
		t.Fatal(err)
	}
	if err := again.Remove(ctx, "policy:0", "user:sec"); !errors.Is(err, rogue.ErrNotFound) {
		t.Errorf("removing a policy entry over the API: %v", err)
	}
	if !again.Rogue(a) {
		t.Error("not rogue again after the allow-list entry was removed")
	}
	// A biomed engineer classifies it: no longer unknown.
	if _, err := reg.Update(ctx, a.ID, assets.Edit{Class: ptr(assets.ClassWorkstation)}, "user:bio", ""); err != nil {
		t.Fatal(err)
	}
	if a, _ := reg.Get(rogueDev.ID); again.Rogue(a) {
		t.Error("still rogue after being classified")
	}
}

func ptr[T any](v T) *T { return &v }
