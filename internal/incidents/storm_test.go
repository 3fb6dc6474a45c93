package incidents_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// seedAssets saves assets with their relations straight into the asset store, the way
// the registry would hold them once topology is resolved, and loads a registry.
func seedAssets(t testing.TB, ctx context.Context, s *store.Store, list []*assets.Asset) *assets.Service {
	t.Helper()
	ast, err := assets.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if err := ast.Save(ctx, a, 0); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := assets.NewService(ctx, ast, assets.Options{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func newAsset(id, name string, class assets.Class, ip, unit, area string, now time.Time, upstream ...string) *assets.Asset {
	a := &assets.Asset{
		ID: id, Name: name, Class: class, Status: assets.StatusOperational, Site: "main",
		Location:    assets.Location{Building: "Tower A", Unit: unit, CareArea: area},
		IPAddresses: []string{ip}, MACAddresses: []string{}, Sources: []string{"IMPORT"},
		Authority: map[string]assets.Authority{}, FirstSeenAt: now, Version: 1, UpdatedAt: now,
	}
	for k, u := range upstream {
		a.Upstream = append(a.Upstream, assets.Relation{Kind: assets.RelConnectedTo, Target: u, Port: fmt.Sprintf("Gi1/0/%d", k+1), Source: "LLDP", Since: now})
	}
	return a
}

var obsSeq atomic.Int64

// poll is the observation a collector sends when a device's SNMP state changes.
func poll(ip string, down bool) observation.Observation {
	now := time.Now().UTC()
	o := observation.Observation{
		ID: fmt.Sprintf("obs-%d", obsSeq.Add(1)), Collector: "col-1", Site: "main", ObservedAt: now, ValidUntil: now.Add(10 * time.Minute),
		Source: observation.SourceSNMPPoll, Kind: observation.KindChange, Address: &observation.Address{IP: ip},
		State: observation.StateUp, Conditions: []string{},
	}
	if down {
		o.State, o.Condition, o.Conditions = observation.StateDown, observation.CondSNMPUnreachable, []string{observation.CondSNMPUnreachable}
	}
	return o
}

// ingest is the cmdb's pipeline: apply to the registry, then to the engine.
func ingest(t testing.TB, ctx context.Context, svc *assets.Service, e *incidents.Engine, obs []observation.Observation) {
	t.Helper()
	t0 := time.Now()
	outs, err := svc.Apply(ctx, obs, "test")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := e.Handle(ctx, outs); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d observations: registry %s, incidents %s", len(obs), t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
}

// TestAlertStorm: an access switch with 200 devices behind it goes down. The service
// desk gets exactly one incident, the switch's, carrying the count and the worst
// impact; 200 suppressed incidents are linked to it. The switch recovers with three
// devices still down: those three are un-suppressed and notified, nothing else.
func TestAlertStorm(t *testing.T) {
	testkit.Integration(t) // a 200-device storm in real time through the store and a real webhook; its logic is covered by correlate_test on the in-memory store
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := testkit.Store(t)
	now := time.Now().UTC()
	sw := newAsset("sw-icu3", "sw-icu3-access", assets.ClassNetworkSwitch, "10.9.0.1", "ICU-3", "ICU", now)
	list := []*assets.Asset{sw}
	var ips []string
	for k := range 200 {
		class := assets.ClassPatientMonitor
		switch {
		case k >= 180:
			class = assets.ClassWorkstation
		case k >= 150:
			class = assets.ClassInfusionPump
		}
		ip := fmt.Sprintf("10.9.%d.%d", 1+k/200, 1+k%200)
		ips = append(ips, ip)
		list = append(list, newAsset(fmt.Sprintf("dev%03d", k), fmt.Sprintf("icu3-%s-%03d", strings.ToLower(string(class)), k), class, ip, "ICU-3", "ICU", now, sw.ID))
	}
	svc := seedAssets(t, ctx, s, list)

	desk := newReceiver(t)
	p, err := incidents.ParsePolicy([]byte("reopen_window: 3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.Webhooks = []incidents.Webhook{desk.webhook("desk", incidents.KindGeneric)}
	ob, err := incidents.OpenOutbox(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	notifier := incidents.NewNotifier(ob, p, incidents.NotifierOptions{Logger: testkit.Logger()})
	ist, err := incidents.OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	e, err := incidents.NewEngine(ctx, ist, svc, incidents.EngineOptions{Policy: p, Logger: testkit.Logger(), Sink: notifier})
	if err != nil {
		t.Fatal(err)
	}
	go e.Run(ctx)
	go notifier.Run(ctx)

	// The poller notices most devices before the switch: 120 first, then the switch
	// and the rest.
	first := time.Now()
	var batch []observation.Observation
	for _, ip := range ips[:120] {
		batch = append(batch, poll(ip, true))
	}
	ingest(t, ctx, svc, e, batch)
	time.Sleep(500 * time.Millisecond)
	// The 10 s run from the switch's failure being reported.
	start := time.Now()
	batch = []observation.Observation{poll("10.9.0.1", true)}
	for _, ip := range ips[120:] {
		batch = append(batch, poll(ip, true))
	}
	ingest(t, ctx, svc, e, batch)
	t.Logf("201 DOWN observations applied in %s", time.Since(first).Round(time.Millisecond))

	testkit.Eventually(t, 10*time.Second-time.Since(start), func() error {
		if got := desk.accepted(); len(got) != 1 {
			return fmt.Errorf("%d notifications at the desk", len(got))
		}
		return nil
	})
	t.Logf("root incident at the service desk %s after the switch's DOWN was reported, %s after the first device's",
		time.Since(start).Round(time.Millisecond), time.Since(first).Round(time.Millisecond))
	root := desk.accepted()[0]
	ri := root.note.Incident
	if root.event != "opened" || root.note.Asset.ID != sw.ID || ri.Priority != incidents.P1 {
		t.Fatalf("the one notification is %s about %s (%s), want the switch opening at P1", root.event, root.note.Asset.Name, ri.Priority)
	}
	if ri.SuppressedCount != 200 || ri.Dependents != 200 || !strings.HasPrefix(ri.WorstImpact, "P1: PATIENT_MONITOR in ICU") {
		t.Fatalf("root carries suppressed %d, dependents %d, worst %q", ri.SuppressedCount, ri.Dependents, ri.WorstImpact)
	}
	open := true
	incs, total := e.List(incidents.Filter{Open: &open}, 0, 1000)
	linked := 0
	for _, i := range incs {
		if i.AssetID != sw.ID && i.Suppressed && i.SuppressedBy == ri.ID && !i.Notified {
			linked++
		}
	}
	if total != 201 || linked != 200 {
		t.Fatalf("%d open incidents, %d suppressed and linked to the root; want 201 and 200", total, linked)
	}
	// Past the correlation wait nothing else leaks out.
	time.Sleep(p.Correlation.Wait + 1500*time.Millisecond)
	if n := len(desk.accepted()); n != 1 {
		t.Fatalf("%d notifications after the wait, want still 1", n)
	}

	// The switch recovers and, in the same collector batch, 197 devices come back;
	// 3 stay down. (Devices coming back in later batches within the correlation
	// wait are covered by TestRootRecoveryNotifiesOnlyDevicesStillDown.)
	start = time.Now()
	batch = []observation.Observation{poll("10.9.0.1", false)}
	for _, ip := range ips[3:] {
		batch = append(batch, poll(ip, false))
	}
	ingest(t, ctx, svc, e, batch)
	still := map[string]bool{"dev000": true, "dev001": true, "dev002": true}
	testkit.Eventually(t, 10*time.Second, func() error {
		got := desk.accepted()
		if len(got) != 5 {
			return fmt.Errorf("%d notifications, want 5", len(got))
		}
		return nil
	})
	t.Logf("three un-suppressed devices and the switch's resolution at the desk %s after the switch recovered", time.Since(start).Round(time.Millisecond))
	time.Sleep(p.Correlation.Wait + 1500*time.Millisecond)
	got := desk.accepted()
	if len(got) != 5 {
		t.Fatalf("%d notifications, want 5 (switch opened and resolved, 3 devices)", len(got))
	}
	devs := 0
	for _, r := range got[1:] {
		switch {
		case r.note.Asset.ID == sw.ID && r.event == "resolved":
		case still[r.note.Asset.ID] && r.event == "opened" && r.note.Incident.WasSuppressed && r.note.Incident.RootID == ri.ID:
			devs++
		default:
			t.Errorf("unexpected notification %s about %s", r.event, r.note.Asset.ID)
		}
	}
	if devs != 3 {
		t.Fatalf("%d of the 3 still-down devices notified", devs)
	}
	if desk.badSig != 0 {
		t.Fatalf("%d requests with a bad signature", desk.badSig)
	}
	if st := e.RootStats(ri.ID); st.Impacted != 200 || st.Suppressed != 0 {
		t.Fatalf("root stats after recovery %+v", st)
	}
}
