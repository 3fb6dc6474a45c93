package discovery

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/observation"
)

var t0 = time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)

func conds(o observation.Observation) string { return strings.Join(o.Conditions, ",") }

func TestHL7DeviceIdentityObservation(t *testing.T) {
	clock := &fakeClock{t: t0}
	e := startHL7(t, hl7Config(), clock.Now)
	c := e.dial(t)
	pump := hl7test.Pump
	send(t, c, pump.PCD01("id-1"))
	obs := e.rec.wait(t, 1)
	if len(obs) != 1 {
		t.Fatalf("observations %+v, want one", obs)
	}
	o := obs[0]
	want := observation.Identity{EUI64: "0012A1FFFE001234", Manufacturer: "Acme Infusion", Model: "AI-500", Serial: "SN-0042",
		Software: "3.1.4", Firmware: "fw-7.2", MDCCode: "69985", Class: "INFUSION_PUMP", HL7App: "PUMP01^0012A1FFFE001234^EUI-64"}
	if !sameHL7Identity(o.Identity, want) {
		t.Errorf("identity\n%+v\nwant\n%+v", o.Identity, want)
	}
	if o.Kind != observation.KindDiscovered || o.Source != observation.SourceHL7 || o.State != observation.StateUp || o.Conditions == nil || len(o.Conditions) != 0 {
		t.Errorf("observation %+v", o)
	}
	if o.Location == nil || *o.Location != (observation.Location{Unit: "ICU-3", Room: "301", Bed: "B"}) {
		t.Errorf("location %+v", o.Location)
	}
	if o.PatientConnected == nil || !*o.PatientConnected {
		t.Errorf("patientConnected %v, want true", o.PatientConnected)
	}
	if !o.ObservedAt.Equal(t0) || !o.ValidUntil.After(t0) || o.Address != nil {
		t.Errorf("timing/address %v %v %v", o.ObservedAt, o.ValidUntil, o.Address)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("observation does not validate: %v", err)
	}
	// The same message again changes nothing: no observation.
	clock.Add(time.Second)
	send(t, c, pump.PCD01("id-2"))
	send(t, c, pump.Heartbeat("id-3"))
	if got := e.rec.take(); len(got) != 0 {
		t.Fatalf("unchanged device reported again: %+v", got)
	}
	// A firmware update is a change.
	p2 := pump
	p2.Firmware = "fw-7.3"
	send(t, c, p2.PCD01("id-4"))
	if o := e.rec.wait(t, 1)[0]; o.Kind != observation.KindChange || o.Identity.Firmware != "fw-7.3" {
		t.Fatalf("after a firmware change: %+v", o)
	}
}

func TestHL7GatewayDevices(t *testing.T) {
	e := startHL7(t, hl7Config(), nil)
	c := e.dial(t)
	msg := hl7test.Lines(
		`MSH|^~\&|GW7|ICU|DOC|HOSP|20240101120000||ORU^R01^ORU_R01|GW-1|P|2.5`,
		`PID|||`+hl7test.MRN+`||`+hl7test.Name,
		`PV1||I|ICU-3^302^A`,
		`OBR|1|||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC`,
		`OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||MON^^00095BFFFE0A0001^EUI-64`,
		`OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|`+hl7test.Value+`|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F`,
		`OBX|3||70001^MDC_DEV_SYS_PT_VENT_MDS^MDC|2.0.0.0|||||||X|||||||VENT^^00095BFFFE0B0002^EUI-64`,
		`OBX|4|ST|0^MDC_ATTR_SELF_TEST_RESULT^MDC|2.0.0.3|failed||||||F`,
	)
	if a := send(t, c, msg); a.Code != "AA" {
		t.Fatalf("ack %+v", a)
	}
	obs := e.rec.wait(t, 3)
	byClass := map[string]observation.Observation{}
	for _, o := range obs {
		byClass[o.Identity.Class] = o
	}
	mon, vent, gw := byClass["PATIENT_MONITOR"], byClass["VENTILATOR"], byClass["HL7_GATEWAY"]
	if mon.Identity.EUI64 != "00095BFFFE0A0001" || mon.Identity.HL7App != "" || mon.State != observation.StateUp ||
		len(mon.Neighbors) != 1 || mon.Neighbors[0] != (observation.Neighbor{Kind: "REPORTS_THROUGH", HL7App: "GW7"}) {
		t.Errorf("monitor %+v", mon)
	}
	if vent.Identity.EUI64 != "00095BFFFE0B0002" || vent.State != observation.StateDegraded || conds(vent) != observation.CondSelfTestFailed {
		t.Errorf("ventilator %+v", vent)
	}
	if gw.Identity.HL7App != "GW7" || gw.Location != nil || gw.PatientConnected != nil {
		t.Errorf("gateway %+v (a gateway has no bedside location nor patient)", gw)
	}
	for _, o := range obs {
		if err := o.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestHL7TechnicalAlarms(t *testing.T) {
	e := startHL7(t, hl7Config(), nil)
	c := e.dial(t)
	pump := hl7test.Pump
	send(t, c, pump.PCD01("a0"))
	e.rec.wait(t, 1)
	occl := "196940^MDC_EVT_FLUID_LINE_OCCL"
	steps := []struct {
		msg   []byte
		kind  observation.Kind
		state observation.State
		conds string
		none  bool
	}{
		{msg: pump.PCD04("a1", occl, "start", "ST"), kind: observation.KindChange, state: observation.StateDegraded, conds: observation.CondTechnicalAlarm},
		{msg: pump.PCD04("a2", occl, "continue", "ST"), none: true},
		{msg: pump.PCD04("a3", "196648^MDC_EVT_HI", "start", "SP"), none: true}, // physiological: ignored
		{msg: pump.PCD04("a4", occl, "end", "ST"), kind: observation.KindChange, state: observation.StateUp, conds: ""},
		{msg: pump.PCD04("a5", "196888^MDC_EVT_BATT_LO", "tpoint", "ST"), kind: observation.KindEvent, state: observation.StateDegraded},
	}
	for i, s := range steps {
		if a := send(t, c, s.msg); a.Code != "CA" {
			t.Fatalf("step %d: ack %+v", i, a)
		}
		if s.none {
			time.Sleep(20 * time.Millisecond)
			if got := e.rec.take(); len(got) != 0 {
				t.Fatalf("step %d: unexpected observations %+v", i, got)
			}
			continue
		}
		o := e.rec.wait(t, 1)[0]
		if o.Kind != s.kind || o.State != s.state {
			t.Fatalf("step %d: %+v, want %s %s", i, o, s.kind, s.state)
		}
		if s.kind == observation.KindEvent {
			if o.Condition != observation.CondTechnicalAlarm || o.Conditions != nil || o.Detail != "MDC_EVT_BATT_LO" {
				t.Fatalf("step %d: event %+v", i, o)
			}
		} else if conds(o) != s.conds {
			t.Fatalf("step %d: conditions %q, want %q", i, conds(o), s.conds)
		}
	}
}

func TestHL7HeartbeatLossAndRecovery(t *testing.T) {
	clock := &fakeClock{t: t0}
	cfg := hl7Config()
	cfg.HL7.HeartbeatTimeout = 3 * time.Minute
	cfg.HL7.ClassTimeouts = map[string]time.Duration{"VENTILATOR": 20 * time.Second}
	cfg.Refresh = time.Hour
	e := startHL7(t, cfg, clock.Now)
	c := e.dial(t)
	pump := hl7test.Pump
	vent := hl7test.Device{EUI64: "00095BFFFE0B0002", App: "VENT9", MDC: "70001^MDC_DEV_SYS_PT_VENT_MDS",
		Unit: "ICU-3", Room: "305", Bed: "A"}
	send(t, c, pump.PCD04("b1", "196940^MDC_EVT_FLUID_LINE_OCCL", "start", "ST"))
	send(t, c, vent.PCD01("v1"))
	e.rec.wait(t, 2)
	tr := e.l.Tracker()

	// The ventilator's class timeout is 20 s, the pump's the default 3 min.
	tr.Check(t0.Add(20 * time.Second))
	if got := e.rec.take(); len(got) != 0 {
		t.Fatalf("nothing is overdue at the timeout itself: %+v", got)
	}
	tr.Check(t0.Add(21 * time.Second))
	lost := e.rec.take()
	if len(lost) != 1 || lost[0].Identity.EUI64 != vent.EUI64 || lost[0].State != observation.StateDown ||
		lost[0].Condition != observation.CondHL7HeartbeatLost || conds(lost[0]) != observation.CondHL7HeartbeatLost {
		t.Fatalf("ventilator loss: %+v", lost)
	}
	tr.Check(t0.Add(22 * time.Second))
	if got := e.rec.take(); len(got) != 0 {
		t.Fatalf("loss reported twice: %+v", got)
	}
	// The pump goes silent too; its loss keeps the technical alarm in the full set.
	tr.Check(t0.Add(3*time.Minute + time.Second))
	lost = e.rec.take()
	if len(lost) != 1 || lost[0].Identity.EUI64 != pump.EUI64 || lost[0].State != observation.StateDown ||
		conds(lost[0]) != observation.CondTechnicalAlarm+","+observation.CondHL7HeartbeatLost {
		t.Fatalf("pump loss: %+v", lost)
	}
	// The next message of any type recovers it.
	clock.Add(4 * time.Minute)
	send(t, c, vent.Heartbeat("v2"))
	rec := e.rec.wait(t, 1)
	if rec[0].Identity.EUI64 != vent.EUI64 || rec[0].State != observation.StateUp || conds(rec[0]) != "" || rec[0].Kind != observation.KindChange {
		t.Fatalf("recovery: %+v", rec)
	}
	if n := testutil.ToFloat64(e.l.metrics.lost); n != 2 {
		t.Fatalf("medcmdb_hl7_heartbeats_lost_total = %v, want 2", n)
	}
}

func TestHL7HeartbeatLearnedInterval(t *testing.T) {
	clock := &fakeClock{t: t0}
	cfg := hl7Config()
	cfg.HL7.HeartbeatTimeout = time.Hour
	cfg.HL7.LearnHeartbeat = true
	cfg.Refresh = 24 * time.Hour
	e := startHL7(t, cfg, clock.Now)
	c := e.dial(t)
	dev := hl7test.Device{EUI64: "0012A1FFFE00BEEF", App: "MON3"}
	for i := range 7 {
		send(t, c, dev.Heartbeat("l"+string(rune('0'+i))))
		if i < 6 {
			clock.Add(10 * time.Second)
		}
	}
	e.rec.wait(t, 1)
	last := clock.Now()
	e.l.Tracker().Check(last.Add(29 * time.Second))
	if got := e.rec.take(); len(got) != 0 {
		t.Fatalf("lost before three learned intervals: %+v", got)
	}
	e.l.Tracker().Check(last.Add(31 * time.Second))
	if got := e.rec.take(); len(got) != 1 || got[0].State != observation.StateDown {
		t.Fatalf("after three learned 10 s intervals: %+v, want heartbeat lost", got)
	}
}

func TestHL7RefreshKeepsDevicesKnown(t *testing.T) {
	clock := &fakeClock{t: t0}
	cfg := hl7Config()
	cfg.Refresh = time.Minute
	cfg.HL7.HeartbeatTimeout = time.Hour
	e := startHL7(t, cfg, clock.Now)
	c := e.dial(t)
	send(t, c, hl7test.Pump.Heartbeat("r1"))
	e.rec.wait(t, 1)
	e.l.Tracker().Check(t0.Add(59 * time.Second))
	if got := e.rec.take(); len(got) != 0 {
		t.Fatalf("refreshed early: %+v", got)
	}
	e.l.Tracker().Check(t0.Add(61 * time.Second))
	got := e.rec.take()
	if len(got) != 1 || got[0].Kind != observation.KindRefresh || got[0].State != observation.StateUp || !got[0].ValidUntil.After(t0.Add(61*time.Second)) {
		t.Fatalf("refresh %+v", got)
	}
}

// TestHL7HeartbeatRealTime runs the listener's own ticker on the real clock: loss is
// reported within timeout + 2 s of the last message, recovery on the next one.
func TestHL7HeartbeatRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a real timeout")
	}
	cfg := hl7Config()
	cfg.HL7.HeartbeatTimeout = time.Second
	e := startHL7(t, cfg, nil)
	c := e.dial(t)
	dev := hl7test.Device{EUI64: "0012A1FFFE00CAFE", App: "PUMP7"}
	send(t, c, dev.Heartbeat("rt1"))
	last := time.Now()
	e.rec.wait(t, 1)
	deadline := last.Add(cfg.HL7.HeartbeatTimeout + 2*time.Second)
	var lost *observation.Observation
	for lost == nil && time.Now().Before(deadline.Add(time.Second)) {
		for _, o := range e.rec.take() {
			if o.State == observation.StateDown {
				lost = &o
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lost == nil {
		t.Fatal("no heartbeat loss reported")
	}
	if took := time.Since(last); lost.ObservedAt.After(deadline) {
		t.Fatalf("loss observed %s after the last message, want within timeout + 2s (%s)", took, cfg.HL7.HeartbeatTimeout+2*time.Second)
	}
	send(t, c, dev.Heartbeat("rt2"))
	if o := e.rec.wait(t, 1)[0]; o.State != observation.StateUp || !slices.Equal(o.Conditions, []string{}) {
		t.Fatalf("recovery %+v", o)
	}
}

func TestCollectorRunsHL7Listener(t *testing.T) {
	cfg := hl7Config()
	cfg.CMDB.URL, cfg.CMDB.Token = "http://127.0.0.1:1/graphql", "x"
	cfg.CMDB.FlushInterval = 10 * time.Millisecond
	snd := &captureSender{}
	col, err := New(cfg, Options{Sender: snd})
	if err != nil {
		t.Fatal(err)
	}
	if col.HL7() == nil {
		t.Fatal("hl7.listen is set but the collector has no HL7 listener")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := mllpDial(col.HL7().Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(t, c, hl7test.Pump.PCD01("c1"))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, o := range snd.all() {
			if o.Source == observation.SourceHL7 && o.Identity.EUI64 == hl7test.Pump.EUI64 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the pump never reached the cmdb sender: %+v", snd.all())
}

func TestHL7ConfigValidation(t *testing.T) {
	base := `site: s
cmdb: {url: "http://127.0.0.1:8080/graphql", token: t}
hl7:
  listen: 127.0.0.1:2575
`
	for extra, want := range map[string]string{
		"  class_heartbeat_timeouts: {VENTILATOR: 500ms}\n": "class_heartbeat_timeouts.VENTILATOR",
		"  class_heartbeat_timeouts: {ventilator: 30s}\n":   "not a class name",
		"  max_message_bytes: 10\n":                         "hl7.max_message_bytes",
		"  idle_timeout: 10ms\n":                            "hl7.idle_timeout",
		"  tls_cert: /x.pem\n":                              "go together",
		"  learn_heartbeats: true\n":                        "learn_heartbeats",
	} {
		_, err := ParseConfig([]byte(base + extra))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one mentioning %q", extra, err, want)
		}
	}
	cfg, err := ParseConfig([]byte(base + "  class_heartbeat_timeouts: {VENTILATOR: 30s}\n  learn_heartbeat: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HL7.ClassTimeouts["VENTILATOR"] != 30*time.Second || !cfg.HL7.LearnHeartbeat {
		t.Fatalf("decoded %+v", cfg.HL7)
	}
}
