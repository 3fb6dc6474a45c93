package assets_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

type fixture struct {
	t   *testing.T
	svc *assets.Service
	st  assets.Repository
	seq int
	now time.Time
}

// newFixture: a registry over the in-memory store (the rules of a shared MongoDB
// store; see TestCollectionContract in docstore), for the logic.
func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, now: t0, st: assets.NewMemStore()}
	f.open()
	return f
}

// newStoreFixture: a registry over the embedded FerretDB, for tests whose point is
// the store (its layout, versions, compaction); skipped with -short.
func newStoreFixture(t *testing.T) *fixture {
	testkit.Integration(t)
	st, err := assets.OpenStore(context.Background(), testkit.Store(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, now: t0, st: st}
	f.open()
	return f
}

// open (re)loads the service from the test store, as a restart would.
func (f *fixture) open() {
	ctx := context.Background()
	svc, err := assets.NewService(ctx, f.st, assets.Options{Logger: testkit.Logger(), Now: func() time.Time { return f.now }})
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc = svc
}

func (f *fixture) obs(mut func(*observation.Observation)) observation.Observation {
	f.seq++
	f.now = f.now.Add(time.Second)
	o := observation.Observation{
		ID: fmt.Sprintf("c1-boot-%d", f.seq), Collector: "c1", Site: "main",
		ObservedAt: f.now, ValidUntil: f.now.Add(3 * time.Minute),
		Source: observation.SourceSNMPPoll, Kind: observation.KindChange, State: observation.StateUp, Conditions: []string{},
	}
	mut(&o)
	return o
}

func (f *fixture) apply(obs ...observation.Observation) []assets.Outcome {
	f.t.Helper()
	outs, err := f.svc.Apply(context.Background(), obs, "req-1")
	if err != nil {
		f.t.Fatal(err)
	}
	return outs
}

func snmp(ip, name string) func(*observation.Observation) {
	return func(o *observation.Observation) {
		o.Address = &observation.Address{IP: ip, Port: 161}
		o.Identity = observation.Identity{SysName: name, SysDescr: "descr " + name}
	}
}

func TestSameDeviceStaysOneAsset(t *testing.T) {
	f := newFixture(t)
	a := f.apply(f.obs(snmp("10.0.0.5", "pump-1")))[0]
	if !a.Created || a.Asset.Status != assets.StatusOperational {
		t.Fatalf("first sighting: created=%v status=%s", a.Created, a.Asset.Status)
	}
	// Rediscovered by a second sweep, and seen at a second address with the same name.
	b := f.apply(f.obs(snmp("10.0.0.5", "pump-1")))[0]
	c := f.apply(f.obs(snmp("10.0.9.9", "pump-1")))[0]
	if b.Created || c.Created || b.Asset.ID != a.Asset.ID || c.Asset.ID != a.Asset.ID {
		t.Fatalf("same device became several assets: %s %s %s", a.Asset.ID, b.Asset.ID, c.Asset.ID)
	}
	if n := f.svc.Count(); n != 1 {
		t.Fatalf("%d assets, want 1", n)
	}
}

func TestIPReusedByAnotherDeviceAfterDHCP(t *testing.T) {
	f := newFixture(t)
	old := f.apply(f.obs(snmp("10.0.0.7", "monitor-a")))[0].Asset
	// A different device (other EUI-64 than the first) gets the same IP.
	f.apply(f.obs(func(o *observation.Observation) {
		snmp("10.0.0.8", "monitor-a")(o)
		o.Identity.EUI64 = "0012A1FFFE000001"
	}))
	nw := f.apply(f.obs(func(o *observation.Observation) {
		snmp("10.0.0.7", "monitor-b")(o)
		o.Identity.EUI64 = "0012A1FFFE000002"
	}))[0]
	if !nw.Created || nw.Asset.ID == old.ID {
		t.Fatalf("a different device on a reused IP must be a new asset")
	}
	prev, _ := f.svc.Get(old.ID)
	for _, ip := range prev.IPAddresses {
		if ip == "10.0.0.7" {
			t.Fatalf("old asset still holds the reused IP: %v", prev.IPAddresses)
		}
	}
}

func TestStatusFollowsConditionsAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	up := f.obs(snmp("10.0.0.5", "vent-1"))
	f.apply(up)
	down := f.obs(func(o *observation.Observation) {
		snmp("10.0.0.5", "vent-1")(o)
		o.State = observation.StateDown
		o.Condition = observation.CondSNMPUnreachable
		o.Conditions = []string{observation.CondSNMPUnreachable}
	})
	out := f.apply(down)[0]
	if out.Asset.Status != assets.StatusDown || len(out.Raised) != 1 || out.Raised[0] != observation.CondSNMPUnreachable {
		t.Fatalf("down: status %s raised %v", out.Asset.Status, out.Raised)
	}
	// Replaying the same observation, or an older one, changes nothing.
	if again := f.apply(down)[0]; !again.Duplicate {
		t.Fatal("replayed observation was applied twice")
	}
	if stale := f.apply(up)[0]; !stale.Duplicate || stale.Asset.Status != assets.StatusDown {
		t.Fatalf("older observation applied: duplicate=%v status=%s", stale.Duplicate, stale.Asset.Status)
	}
	rec := f.apply(f.obs(snmp("10.0.0.5", "vent-1")))[0]
	if rec.Asset.Status != assets.StatusOperational || len(rec.Cleared) != 1 {
		t.Fatalf("recovery: status %s cleared %v", rec.Asset.Status, rec.Cleared)
	}
	// A restart keeps the state, the history and the replay guard.
	f.open()
	a, _ := f.svc.Get(rec.Asset.ID)
	if a.Status != assets.StatusOperational {
		t.Fatalf("after restart: %s", a.Status)
	}
	if again := f.apply(down)[0]; !again.Duplicate {
		t.Fatal("replay after restart was applied")
	}
	hist, err := f.svc.History(context.Background(), a, 100)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Field == "status" {
			trail = append(trail, hist[i].After)
		}
	}
	if fmt.Sprint(trail) != "[OPERATIONAL DOWN OPERATIONAL]" {
		t.Fatalf("status history %v", trail)
	}
	if hist[len(hist)-1].Field != "created" || hist[len(hist)-1].RequestID != "req-1" {
		t.Fatalf("first history entry %+v, want the creation record", hist[len(hist)-1])
	}
}

func TestExpiryMakesUnknownNotDown(t *testing.T) {
	f := newFixture(t)
	out := f.apply(f.obs(snmp("10.0.0.5", "pump-9")))[0]
	f.now = f.now.Add(10 * time.Minute)
	outs, err := f.svc.Expire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Asset.Status != assets.StatusUnknown {
		t.Fatalf("expiry: %+v", outs)
	}
	a, _ := f.svc.Get(out.Asset.ID)
	if a.Status != assets.StatusUnknown {
		t.Fatalf("status %s, want UNKNOWN", a.Status)
	}
	// A fresh observation brings it back.
	if back := f.apply(f.obs(snmp("10.0.0.5", "pump-9")))[0]; back.Asset.Status != assets.StatusOperational {
		t.Fatalf("after refresh: %s", back.Asset.Status)
	}
}

func TestHistorySpansBuckets(t *testing.T) {
	f := newFixture(t)
	var id string
	for i := range 130 {
		out := f.apply(f.obs(func(o *observation.Observation) {
			snmp("10.0.0.5", "printer-1")(o)
			o.Identity.SysDescr = fmt.Sprintf("firmware %03d", i)
		}))[0]
		id = out.Asset.ID
	}
	a, _ := f.svc.Get(id)
	hist, err := f.svc.History(context.Background(), a, 150)
	if err != nil {
		t.Fatal(err)
	}
	var descrs []string
	for _, h := range hist {
		if h.Field == "sysDescr" {
			descrs = append(descrs, h.After)
		}
	}
	if len(descrs) != 130 || descrs[0] != "firmware 129" || descrs[129] != "firmware 000" {
		t.Fatalf("%d sysDescr entries, first %q last %q", len(descrs), descrs[0], descrs[len(descrs)-1])
	}
}
