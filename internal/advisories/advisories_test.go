package advisories_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/advisories"
	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

func TestAdvisoriesMarkAffectedAssets(t *testing.T) {
	ctx := context.Background()
	st := testkit.Store(t)
	ast, err := assets.OpenStore(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	seq := 0
	device := func(name, maker, model, fw string) *assets.Asset {
		seq++
		outs, err := reg.Apply(ctx, []observation.Observation{{ID: fmt.Sprintf("o%d", seq), Collector: "c", ObservedAt: now, ValidUntil: now.Add(time.Hour),
			Source: observation.SourceHL7, Kind: observation.KindDiscovered, State: observation.StateUp,
			Identity: observation.Identity{HL7App: name, Serial: name, Manufacturer: maker, Model: model, Firmware: fw, Class: "INFUSION_PUMP"}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		return outs[0].Asset
	}
	old := device("pump-1", "Acme Medical", "P100", "2.3.9")
	edge := device("pump-2", "ACME  medical", "p100", "2.4.1") // the fixed version
	unknown := device("pump-3", "Acme Medical", "P100", "")
	other := device("pump-4", "Acme Medical", "P200", "2.3.9")
	_ = device("vent-1", "Other", "P100", "2.0")

	svc, err := advisories.Open(ctx, st.DB, testkit.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Add(ctx, advisories.Advisory{Source: "regulator", Severity: "high", Reference: "X", Title: "t",
		Manufacturer: "Acme", Model: "P100", Firmware: ">= 2.0, <<"}, "user:bob"); !errors.Is(err, advisories.ErrInvalid) {
		t.Fatalf("bad range accepted: %v", err)
	}
	// The same URL check as recalls: only http(s) links.
	for _, u := range []string{"javascript:alert(1)", "data:text/html,x", "//evil.example"} {
		if _, err := svc.Add(ctx, advisories.Advisory{Source: "regulator", Severity: "high", Reference: "X", Title: "t",
			Manufacturer: "Acme", Model: "P100", URL: u}, "user:bob"); !errors.Is(err, advisories.ErrInvalid) {
			t.Fatalf("url %q accepted: %v", u, err)
		}
	}
	adv, err := svc.Add(ctx, advisories.Advisory{Source: "regulator", Publisher: "CISA", Severity: "high", Reference: "ICSMA-26-012-01",
		Title: "P100 pumps accept unauthenticated dose-library uploads", URL: "https://example.org/advisories/icsma-26-012-01",
		Manufacturer: "Acme Medical", Model: "P100", Firmware: ">= 2.0, < 2.4.1", Remediation: "Upgrade to 2.4.1"}, "user:bob")
	if err != nil {
		t.Fatal(err)
	}
	if adv.Source != advisories.SourceRegulator || adv.Severity != "HIGH" {
		t.Errorf("not normalised: %+v", adv)
	}
	for _, c := range []struct {
		a    *assets.Asset
		want int
	}{{old, 1}, {edge, 0}, {unknown, 0}, {other, 0}} {
		if got := svc.For(c.a); len(got) != c.want {
			t.Errorf("%s (%s %s %s): %d advisories, want %d", c.a.Name, c.a.Manufacturer, c.a.Model, c.a.FirmwareVersion, len(got), c.want)
		}
	}
	affected, unverified := svc.Assets(reg, adv)
	if len(affected) != 1 || affected[0].ID != old.ID || len(unverified) != 1 || unverified[0].ID != unknown.ID {
		t.Errorf("affected %v, unverified %v", affected, unverified)
	}
	if got := svc.Tally(reg)[adv.ID]; got != [2]int{1, 1} {
		t.Errorf("tally %v, want [1 1]", got)
	}

	// The device upgrades: it is no longer marked.
	seq++
	if _, err := reg.Apply(ctx, []observation.Observation{{ID: "up", Collector: "c", ObservedAt: now.Add(time.Minute), ValidUntil: now.Add(time.Hour),
		Source: observation.SourceHL7, Kind: observation.KindChange, State: observation.StateUp,
		Identity: observation.Identity{HL7App: "pump-1", Serial: "pump-1", Manufacturer: "Acme Medical", Model: "P100", Firmware: "2.4.1"}}}, ""); err != nil {
		t.Fatal(err)
	}
	if a, _ := reg.Get(old.ID); len(svc.For(a)) != 0 {
		t.Errorf("upgraded pump still marked (firmware %s)", a.FirmwareVersion)
	}

	// Round trip: a new service reads the same advisory and matches the same way.
	again, err := advisories.Open(ctx, st.DB, testkit.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := again.Get(adv.ID)
	if !ok || got.Reference != adv.Reference || got.Firmware != adv.Firmware || got.Remediation != adv.Remediation || !got.CreatedAt.Equal(adv.CreatedAt.Truncate(time.Millisecond)) {
		t.Fatalf("reloaded %+v, want %+v", got, adv)
	}
	if got := again.Tally(reg)[adv.ID]; got != [2]int{0, 1} {
		t.Errorf("after upgrade and reload: tally %v, want [0 1]", got)
	}
	if err := again.Remove(ctx, adv.ID, "user:bob"); err != nil {
		t.Fatal(err)
	}
	if err := again.Remove(ctx, adv.ID, "user:bob"); !errors.Is(err, advisories.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	third, err := advisories.Open(ctx, st.DB, testkit.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(third.List()); n != 0 {
		t.Errorf("%d advisories after removal", n)
	}
}
