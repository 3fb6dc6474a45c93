package assets_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

func neighbor(kind, sysName, port string) opt {
	return func(o *observation.Observation) {
		o.Neighbors = append(o.Neighbors, observation.Neighbor{Kind: kind, SysName: sysName, Port: port})
	}
}

func (f *fixture) see(o ...opt) assets.Outcome {
	f.t.Helper()
	return f.apply(f.obs(func(ob *observation.Observation) {
		for _, fn := range o {
			fn(ob)
		}
	}))[0]
}

func TestRelationsFromNeighboursBothWays(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The monitor names its switch before the switch is known: the relation waits.
	mon := f.see(ip("10.1.0.10"), name("mon-10"), neighbor("CONNECTED_TO", "sw-icu", "Gi1/0/10"), neighbor("POWERED_BY", "ups-icu", "")).Asset
	if len(mon.Upstream) != 0 || len(mon.PendingUpstream) != 2 {
		t.Fatalf("unknown neighbours: upstream %v pending %v", mon.Upstream, mon.PendingUpstream)
	}
	sw := f.see(ip("10.1.0.1"), name("sw-icu")).Asset
	mon, _ = f.svc.Get(mon.ID)
	if len(mon.Upstream) != 1 || mon.Upstream[0].Target != sw.ID || mon.Upstream[0].Port != "Gi1/0/10" || mon.Upstream[0].Source != "SNMP" {
		t.Fatalf("after the switch appeared: %+v", mon.Upstream)
	}
	if deps := f.svc.Dependents(sw.ID); !slices.Equal(deps, []string{mon.ID}) {
		t.Fatalf("dependents of the switch: %v", deps)
	}
	// A person adds the UPS by hand; discovery keeps reporting only the switch.
	ups := f.see(ip("10.1.0.2"), name("ups-b")).Asset
	if _, err := f.svc.Relate(ctx, mon.ID, assets.RelPoweredBy, ups.ID, "outlet 3", "user:bob", ""); err != nil {
		t.Fatal(err)
	}
	f.see(ip("10.1.0.10"), name("mon-10"), neighbor("CONNECTED_TO", "sw-icu", "Gi1/0/11"))
	up := f.svc.Upstream(mon.ID)
	var got []string
	for _, r := range up {
		got = append(got, fmt.Sprintf("%s %s %s %s", r.Kind, r.Target, r.Port, r.Source))
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("CONNECTED_TO %s Gi1/0/11 SNMP", sw.ID),
		fmt.Sprintf("POWERED_BY %s outlet 3 MANUAL", ups.ID),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("upstream %q, want %q", got, want)
	}
	if deps := f.svc.Dependents(ups.ID); !slices.Equal(deps, []string{mon.ID}) {
		t.Fatalf("dependents of the UPS: %v", deps)
	}
	// A cycle is refused; removal is recorded.
	if _, err := f.svc.Relate(ctx, ups.ID, assets.RelDependsOn, mon.ID, "", "user:bob", ""); err == nil {
		t.Fatal("a relation making a cycle was accepted")
	}
	if _, err := f.svc.Unrelate(ctx, mon.ID, assets.RelPoweredBy, ups.ID, "user:bob", ""); err != nil {
		t.Fatal(err)
	}
	if deps := f.svc.Dependents(ups.ID); len(deps) != 0 {
		t.Fatalf("dependents after removal: %v", deps)
	}
	a, _ := f.svc.Get(mon.ID)
	hist := trail(t, f.svc, a)
	var ups2 []string
	for _, h := range hist {
		if strings.Contains(h, " upstream: ") {
			ups2 = append(ups2, strings.SplitN(h, " ", 2)[0])
		}
	}
	if !slices.Equal(ups2, []string{"SNMP", "MANUAL", "SNMP_POLL", "MANUAL"}) {
		t.Fatalf("upstream history sources %v (%q)", ups2, hist)
	}
	// Restart: relations and dependents come back from the store.
	f.open()
	if deps := f.svc.Dependents(sw.ID); !slices.Equal(deps, []string{mon.ID}) {
		t.Fatalf("dependents after restart: %v", deps)
	}
}

func TestHistoryPagesWithStableCursorsAndKeepsCreation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var id string
	for i := range 75 {
		id = f.see(ip("10.2.0.1"), name("printer"), func(o *observation.Observation) {
			o.Identity.SysDescr = fmt.Sprintf("fw %03d", i)
		}).Asset.ID
	}
	a, _ := f.svc.Get(id)
	var all []assets.Change
	before := -1
	for {
		page, err := f.svc.HistoryBefore(ctx, a, before, 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		before = page[len(page)-1].Seq
		// New entries arriving between pages must not shift the next page.
		f.see(ip("10.2.0.1"), name("printer"), func(o *observation.Observation) { o.Identity.SysDescr = "newer " + fmt.Sprint(before) })
	}
	if len(all) != a.HistoryCount {
		t.Fatalf("read %d entries, history has %d", len(all), a.HistoryCount)
	}
	for i, c := range all {
		if c.Seq != a.HistoryCount-1-i {
			t.Fatalf("entry %d has seq %d", i, c.Seq)
		}
	}
	if last := all[len(all)-1]; last.Field != "created" || last.Seq != 0 {
		t.Fatalf("oldest entry %+v, want the creation record", last)
	}
	if a.HistorySealed == 0 {
		t.Fatal("nothing was sealed: the test does not cross buckets")
	}
}

func TestUpdateImportExportRecallsPMAndHealth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vent := f.see(ip("10.3.0.1"), name("vent-1"), func(o *observation.Observation) {
		o.Identity.Class = "VENTILATOR"
		o.Identity.Manufacturer, o.Identity.Model, o.Identity.Serial = "Draeger", "Evita V800", "ASDF-1"
	}).Asset
	f.see(ip("10.3.0.2"), name("pump-1"), func(o *observation.Observation) { o.Identity.Class = "INFUSION_PUMP" })

	// Manual edits with an actor; an invalid one changes nothing.
	tag, owner := "BME-0001", "Biomed North"
	pm := 180
	last := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	got, err := f.svc.Update(ctx, vent.ID, assets.Edit{AssetTag: &tag, Owner: &owner, PMIntervalDays: &pm, LastPM: &last}, "user:alice", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if due := got.Biomed.NextPMDue(); !due.Equal(last.AddDate(0, 0, 180)) || !got.PMOverdue(f.now) {
		t.Fatalf("next PM due %s, overdue %v at %s", due, got.PMOverdue(f.now), f.now)
	}
	bad := "not-an-eui"
	if _, err := f.svc.Update(ctx, vent.ID, assets.Edit{EUI64: &bad, Owner: &tag}, "user:alice", ""); err == nil {
		t.Fatal("invalid EUI-64 accepted")
	}
	if a, _ := f.svc.Get(vent.ID); a.Biomed.Owner != owner {
		t.Fatalf("a refused edit changed the owner to %q", a.Biomed.Owner)
	}
	yes := true
	if list, n := f.svc.List(assets.Filter{PMOverdue: &yes}, 0, 10); n != 1 || list[0].ID != vent.ID {
		t.Fatalf("PM overdue filter: %d", n)
	}

	// A recall on the make and model shows on the asset, and on an imported twin.
	if _, err := f.svc.AddRecall(ctx, assets.Recall{Manufacturer: "draeger", Model: "EVITA V800", Reference: "Z-1234-2026"}, "user:alice"); err != nil {
		t.Fatal(err)
	}
	if rs := f.svc.RecallsFor(got); len(rs) != 1 || rs[0].Reference != "Z-1234-2026" {
		t.Fatalf("recalls of the ventilator: %v", rs)
	}

	// Import: updates the ventilator by tag (manual owner stays), creates a twin,
	// reports bad rows and applies nothing of them.
	csv := "asset_tag,manufacturer,model,serial_number,class,owner,care_area,install_date,pm_interval_days\n" +
		"BME-0001,,,,,Imported Owner,ICU,2024-01-15,\n" +
		"BME-0002,Draeger,Evita V800,ASDF-2,VENTILATOR,Biomed South,ICU,2024-02-01,365\n" +
		"BME-0003,Draeger,Evita V800,ASDF-1,VENTILATOR,,,,\n" + // serial of vent-1 under another tag
		"BME-0004,Acme,X,,TOASTER,,,,\n" +
		"BME-0005,Acme,X,S5,INFUSION_PUMP,,,2024-13-01,\n"
	res, err := f.svc.ImportCSV(ctx, strings.NewReader(csv), "user:carol", "")
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, e := range res.Errors {
		lines = append(lines, e.Line)
	}
	if res.Created != 1 || res.Updated != 1 || !slices.Equal(lines, []int{4, 5, 6}) {
		t.Fatalf("import: %+v", res)
	}
	v, _ := f.svc.Get(vent.ID)
	if v.Biomed.Owner != owner || v.Location.CareArea != "ICU" || formatDay(v.Biomed.InstallDate) != "2024-01-15" {
		t.Fatalf("imported ventilator: owner %q area %q install %s", v.Biomed.Owner, v.Location.CareArea, v.Biomed.InstallDate)
	}
	if _, n := f.svc.List(assets.Filter{AssetTag: "BME-0003"}, 0, 1); n != 0 {
		t.Fatal("a bad row was half applied")
	}
	twin, n := f.svc.List(assets.Filter{AssetTag: "bme-0002"}, 0, 1)
	if n != 1 || len(f.svc.RecallsFor(twin[0])) != 1 || twin[0].Status != assets.StatusUnknown {
		t.Fatalf("imported twin: %d", n)
	}
	recalled := true
	if _, n := f.svc.List(assets.Filter{Recalled: &recalled}, 0, 10); n != 2 {
		t.Fatalf("recalled filter: %d", n)
	}

	// Export and import back: nothing changes.
	var buf bytes.Buffer
	if err := f.svc.ExportCSV(&buf, assets.Filter{}); err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.ImportCSV(ctx, bytes.NewReader(buf.Bytes()), "user:carol", "")
	if err != nil || len(again.Errors) != 0 || again.Created != 0 || again.Updated != 0 || again.Unchanged != 3 {
		t.Fatalf("re-import of the export: %+v %v\n%s", again, err, buf.String())
	}

	// Retire; the health summary counts it.
	ret := assets.StatusRetired
	if _, err := f.svc.Update(ctx, twin[0].ID, assets.Edit{Status: &ret}, "user:alice", ""); err != nil {
		t.Fatal(err)
	}
	groups := f.svc.Health(assets.Filter{}, []assets.GroupBy{assets.ByClass})
	counts := map[string]string{}
	for _, g := range groups {
		counts[string(g.Class)] = fmt.Sprintf("%d op=%d ret=%d", g.Total, g.Counts[assets.StatusOperational], g.Counts[assets.StatusRetired])
	}
	if counts["VENTILATOR"] != "2 op=1 ret=1" || counts["INFUSION_PUMP"] != "1 op=1 ret=0" {
		t.Fatalf("health by class: %v", counts)
	}

	// History of the ventilator: who changed what.
	v, _ = f.svc.Get(vent.ID)
	var who []string
	for _, h := range trail(t, f.svc, v) {
		if strings.HasPrefix(h, "MANUAL") || strings.HasPrefix(h, "IMPORT") {
			who = append(who, h)
		}
	}
	want := []string{
		"MANUAL assetTag:  -> BME-0001", "MANUAL owner:  -> Biomed North",
		"MANUAL lastPM:  -> 2025-06-01", "MANUAL pmIntervalDays:  -> 180",
		"IMPORT location.careArea:  -> ICU", "IMPORT installDate:  -> 2024-01-15",
	}
	if !slices.Equal(who, want) {
		t.Fatalf("manual/import history %q", who)
	}
}

func formatDay(t time.Time) string { return t.Format(time.DateOnly) }

type countIncidents map[string]int

func (c countIncidents) IncidentsSince(id string, _ time.Time) int { return c[id] }

func TestRiskFactors(t *testing.T) {
	f := newFixture(t)
	vent := f.see(ip("10.4.0.1"), name("vent"), func(o *observation.Observation) { o.Identity.Class = "VENTILATOR" }).Asset
	prn := f.see(ip("10.4.0.2"), name("prn"), func(o *observation.Observation) { o.Identity.Class = "PRINTER" }).Asset
	f.svc.SetIncidentCounter(countIncidents{vent.ID: 4, prn.ID: 1})
	v, p := f.svc.Risk(vent), f.svc.Risk(prn)
	if v != (assets.Risk{Function: 10, PhysicalRisk: 5, Maintenance: 5, IncidentHistory: 2, Incidents: 4, Score: 22, Managed: true}) {
		t.Fatalf("ventilator risk %+v", v)
	}
	if p.Score != 6 || p.Managed || p.IncidentHistory != 1 {
		t.Fatalf("printer risk %+v", p)
	}
	if vent.RiskScore != 20 {
		t.Fatalf("stored risk score %d, want 20 (without incident history)", vent.RiskScore)
	}
}

func TestImport5000RowsWithBadRows(t *testing.T) {
	f := newFixture(t)
	var b strings.Builder
	b.WriteString("asset_tag,manufacturer,model,serial_number,class,site,building,unit,care_area,owner,install_date,pm_interval_days,mac_addresses\n")
	bad := map[int]bool{}
	for i := range 5000 {
		line := i + 2
		row := fmt.Sprintf("T%05d,Acme,P%d,S%05d,INFUSION_PUMP,main,Tower A,Ward %d,WARD,Biomed,2024-01-%02d,365,02:00:00:%02x:%02x:%02x\n",
			i, i%7, i, i%9, i%28+1, i>>16&0xff, i>>8&0xff, i&0xff)
		switch i {
		case 100:
			row = fmt.Sprintf("T%05d,Acme,P1,S%05d,BLENDER,main,,,,,,,\n", i, i) // unknown class
		case 777:
			row = fmt.Sprintf("T%05d,Acme,P1,S%05d,INFUSION_PUMP,main,,,,,2024-02-30,,\n", i, i) // no such date
		case 2500:
			row = fmt.Sprintf("T%05d,Acme,P1,S00001,INFUSION_PUMP,main,,,,,,,\n", i) // serial of row 1
		case 4000:
			row = "T04000,Acme,P1,S04000,INFUSION_PUMP\n" // short row
		case 4999:
			row = fmt.Sprintf("T%05d,Acme,P1,S%05d,INFUSION_PUMP,main,,,,,,-5,\n", i, i) // negative interval
		}
		if row != "" && strings.Count(row, ",") < 12 || i == 100 || i == 777 || i == 2500 || i == 4999 {
			bad[line] = true
		}
		b.WriteString(row)
	}
	start := time.Now()
	res, err := f.svc.ImportCSV(context.Background(), strings.NewReader(b.String()), "user:carol", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported 5,000 rows in %s", time.Since(start))
	var lines []int
	for _, e := range res.Errors {
		lines = append(lines, e.Line)
		if e.Message == "" {
			t.Fatalf("row error without a message: %+v", e)
		}
	}
	want := []int{102, 779, 2502, 4002, 5001}
	if !slices.Equal(lines, want) || len(bad) != len(want) {
		t.Fatalf("bad rows %v (%+v), want %v", lines, res.Errors, want)
	}
	if res.Created != 4995 || f.svc.Count() != 4995 {
		t.Fatalf("created %d, count %d", res.Created, f.svc.Count())
	}
	// After a restart every imported row is there with its fields.
	f.open()
	list, n := f.svc.List(assets.Filter{AssetTag: "T01234"}, 0, 1)
	if n != 1 || list[0].Location.Unit != "Ward 1" || list[0].Biomed.PMIntervalDays != 365 || list[0].Class != assets.ClassInfusionPump {
		t.Fatalf("row T01234 after restart: %d %+v", n, list)
	}
	if _, n := f.svc.List(assets.Filter{AssetTag: "T02500"}, 0, 1); n != 0 {
		t.Fatal("the row with a taken serial was imported")
	}
}

func TestReplacedVersionsAreCompacted(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	var id string
	for i := range 6 {
		id = f.see(ip("10.5.0.1"), name("ups-1"), func(o *observation.Observation) { o.Identity.SysDescr = fmt.Sprint("fw ", i) }).Asset.ID
	}
	stale := f.st.StaleVersions()
	if embedded := stale > 0; embedded {
		n, err := f.st.Compact(ctx)
		if err != nil || n != stale || f.st.StaleVersions() != 0 {
			t.Fatalf("compacted %d of %d (err %v), %d left", n, stale, err, f.st.StaleVersions())
		}
	}
	f.open()
	a, ok := f.svc.Get(id)
	if !ok || a.SysDescr != "fw 5" || f.svc.Count() != 1 {
		t.Fatalf("after compaction and restart: %+v", a)
	}
	if f.st.StaleVersions() != 0 {
		t.Fatalf("%d stale versions found at load after compaction", f.st.StaleVersions())
	}
}
