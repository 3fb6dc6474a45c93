package devicesim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// latest keeps the collector's observations: the last one per HL7 entity, and all of
// them as JSON for the PHI check.
type latest struct {
	mu   sync.Mutex
	by   map[string]observation.Observation // EUI-64, or HL7 app for senders without one
	json strings.Builder
}

func (r *latest) Emit(o observation.Observation) {
	b, _ := json.Marshal(o)
	r.mu.Lock()
	defer r.mu.Unlock()
	k := o.Identity.EUI64
	if k == "" {
		k = o.Identity.HL7App
	}
	r.by[k] = o
	r.json.Write(b)
}

func (r *latest) get(eui string) (observation.Observation, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.by[eui]
	return o, ok
}

func eventually(t *testing.T, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startHL7 runs the collector's real HL7 listener and the simulator's senders
// against it.
func startHL7(t *testing.T, s *Sim, cfg HL7Config, timeout time.Duration) (*HL7, *discovery.HL7Listener, *latest) {
	t.Helper()
	ccfg := discovery.DefaultConfig()
	ccfg.Name, ccfg.Site = "sim-test", s.h.Sites[0].Name
	ccfg.HL7.Listen = "127.0.0.1:0"
	ccfg.HL7.HeartbeatTimeout = timeout
	ccfg.Refresh = time.Hour
	rec := &latest{by: map[string]observation.Observation{}}
	l, err := discovery.NewHL7Listener(&ccfg, rec, discovery.HL7Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = l.Addr().String()
	cfg.Logger = slog.New(slog.DiscardHandler)
	h, err := NewHL7(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(ctx) })
	wg.Go(func() { _ = h.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return h, l, rec
}

func hasCond(o observation.Observation, c string) bool { return slices.Contains(o.Conditions, c) }

// TestHL7RoundTripWithCollectorListener sends every HL7 device's messages to the
// collector's own MLLP listener and checks what the collector makes of them: each
// device with its EUI-64, MEM-DMC identity, class, point of care, gateway and patient
// binding; every message acknowledged AA; scenario events (technical alarm, battery,
// patient, HL7 silence, gateway outage) arriving as conditions; no patient data in
// any observation.
func TestHL7RoundTripWithCollectorListener(t *testing.T) {
	h, s := startSim(t, 300, Config{})
	hs, l, rec := startHL7(t, s, HL7Config{Interval: 300 * time.Millisecond, IdentityEvery: 3}, 1500*time.Millisecond)

	var devs []*Device
	for _, d := range h.Devices {
		if d.Class.SpeaksHL7() {
			devs = append(devs, d)
		}
	}
	if hs.Devices() != len(devs) {
		t.Fatalf("senders for %d devices, want %d", hs.Devices(), len(devs))
	}
	if want := 2*len(h.Sites[0].Gateways) + 1; hs.Connections() > want {
		t.Fatalf("%d connections for %d devices, want at most %d", hs.Connections(), len(devs), want)
	}
	eventually(t, 10*time.Second, func() error {
		for _, d := range devs {
			o, ok := rec.get(d.EUI64())
			switch {
			case !ok:
				return fmt.Errorf("nothing from %s (%s)", d.Name, d.EUI64())
			case o.Identity.Serial != d.Serial || o.Identity.Manufacturer != d.Model.HL7Maker() || o.Identity.Model != d.Model.Name:
				return fmt.Errorf("%s: identity %+v", d.Name, o.Identity)
			case o.Identity.Class != d.Class.String():
				return fmt.Errorf("%s: class %q, want %s", d.Name, o.Identity.Class, d.Class)
			case o.Identity.Firmware != d.Firmware():
				return fmt.Errorf("%s: firmware %q, want %q", d.Name, o.Identity.Firmware, d.Firmware())
			}
		}
		return nil
	})
	boundSeen := 0
	for _, d := range devs {
		o, _ := rec.get(d.EUI64())
		if o.Source != observation.SourceHL7 || o.State != observation.StateUp {
			t.Errorf("%s: source %s state %s", d.Name, o.Source, o.State)
		}
		if d.Class == HL7Gateway {
			continue
		}
		unit, room, bed := d.PointOfCare()
		if o.Location == nil || o.Location.Unit != unit || o.Location.Room != room || o.Location.Bed != bed {
			t.Errorf("%s: location %+v, want %s/%s/%s", d.Name, o.Location, unit, room, bed)
		}
		_, bound := d.Patient()
		if o.PatientConnected == nil || *o.PatientConnected != bound {
			t.Errorf("%s: patient connected %v, want %v", d.Name, o.PatientConnected, bound)
		}
		if bound {
			boundSeen++
		}
		switch {
		case d.Gateway != nil:
			if len(o.Neighbors) != 1 || o.Neighbors[0].Kind != "REPORTS_THROUGH" || o.Neighbors[0].HL7App != app(d.Gateway) {
				t.Errorf("%s: neighbours %+v, want REPORTS_THROUGH %s", d.Name, o.Neighbors, app(d.Gateway))
			}
		case len(o.Neighbors) != 0:
			t.Errorf("%s reports directly but has neighbours %+v", d.Name, o.Neighbors)
		}
	}
	if boundSeen == 0 {
		t.Fatal("no device bound to a patient")
	}

	// Scenario events become conditions.
	ctx := context.Background()
	pump, _ := h.Resolve(Selector{Class: "INFUSION_PUMP", CareArea: ICU})
	mon, _ := h.Resolve(Selector{Class: "PATIENT_MONITOR", CareArea: Ward})
	vent, _ := h.Resolve(Selector{Class: "VENTILATOR", CareArea: ICU})
	anes, _ := h.Resolve(Selector{Class: "ANESTHESIA_MACHINE"})
	for _, e := range []Event{
		{Action: ActAlarm, Target: Selector{Name: pump.Name}},
		{Action: ActBatteryLow, Target: Selector{Name: mon.Name}},
		{Action: ActPatientUnbound, Target: Selector{Name: vent.Name}},
		{Action: ActHL7Stop, Target: Selector{Name: anes.Name}},
	} {
		if _, err := s.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, func() error {
		if o, _ := rec.get(pump.EUI64()); !hasCond(o, observation.CondTechnicalAlarm) || !strings.Contains(o.Detail, "MDC_EVT_FLUID_LINE_OCCL") {
			return fmt.Errorf("pump: conditions %v detail %q", o.Conditions, o.Detail)
		}
		if o, _ := rec.get(mon.EUI64()); !hasCond(o, observation.CondBatteryLow) {
			return fmt.Errorf("monitor: conditions %v", o.Conditions)
		}
		if o, _ := rec.get(vent.EUI64()); o.PatientConnected == nil || *o.PatientConnected {
			return fmt.Errorf("ventilator: patient connected %v", o.PatientConnected)
		}
		if o, _ := rec.get(anes.EUI64()); !hasCond(o, observation.CondHL7HeartbeatLost) || o.State != observation.StateDown {
			return fmt.Errorf("anaesthesia machine: state %s conditions %v", o.State, o.Conditions)
		}
		return nil
	})
	// Ended: the conditions clear.
	for _, e := range []Event{
		{Action: ActAlarmEnd, Target: Selector{Name: pump.Name}},
		{Action: ActBatteryOK, Target: Selector{Name: mon.Name}},
		{Action: ActHL7Start, Target: Selector{Name: anes.Name}},
	} {
		if _, err := s.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, func() error {
		for _, d := range []*Device{pump, mon, anes} {
			if o, _ := rec.get(d.EUI64()); len(o.Conditions) != 0 || o.State != observation.StateUp {
				return fmt.Errorf("%s: state %s conditions %v", d.Name, o.State, o.Conditions)
			}
		}
		return nil
	})

	// A gateway outage silences the gateway and every device behind it; the others go on.
	gw := h.Sites[0].Gateways[0]
	s.SetDown(gw, true)
	eventually(t, 5*time.Second, func() error {
		for _, d := range devs {
			o, _ := rec.get(d.EUI64())
			lost := hasCond(o, observation.CondHL7HeartbeatLost)
			if want := d == gw || d.Gateway == gw; lost != want {
				return fmt.Errorf("%s (gateway %v): heartbeat lost %v, want %v", d.Name, d.Gateway != nil, lost, want)
			}
		}
		return nil
	})
	s.SetDown(gw, false)
	eventually(t, 5*time.Second, func() error {
		for _, d := range devs {
			if o, _ := rec.get(d.EUI64()); o.State == observation.StateDown {
				return fmt.Errorf("%s still down after its gateway came back", d.Name)
			}
		}
		return nil
	})

	st := hs.Stats()
	if st.Sent.Load() == 0 || st.AA.Load() != st.Sent.Load() || st.AE.Load()+st.AR.Load()+st.Failed.Load() != 0 {
		t.Fatalf("sent %d: AA %d AE %d AR %d failed %d", st.Sent.Load(), st.AA.Load(), st.AE.Load(), st.AR.Load(), st.Failed.Load())
	}
	if st.Heartbeats.Load() == 0 || st.Observations.Load() == 0 || st.Alarms.Load() < 2 {
		t.Fatalf("heartbeats %d observations %d alarms %d", st.Heartbeats.Load(), st.Observations.Load(), st.Alarms.Load())
	}
	if srv := l.Server().Stats(); srv.Open > int64(hs.Connections()) {
		t.Fatalf("%d connections open at the collector, senders use %d", srv.Open, hs.Connections())
	}
	t.Logf("%d devices over %d connections: %d messages, %d connects", hs.Devices(), hs.Connections(), st.Sent.Load(), st.Connects.Load())

	// Patients travelled in every PCD message; none of it reached an observation.
	rec.mu.Lock()
	all := rec.json.String()
	rec.mu.Unlock()
	for _, frag := range hl7test.SyntheticPHI() {
		if strings.Contains(all, frag) {
			t.Fatalf("patient data %q in an observation", frag)
		}
	}
}

// TestHL7CountsNegativeAcknowledgements answers AE, AR, an ACK for another message
// and garbage, and checks the senders count each and carry on.
func TestHL7CountsNegativeAcknowledgements(t *testing.T) {
	_, s := startSim(t, 200, Config{})
	var mu sync.Mutex
	n := 0
	srv, err := mllp.Listen(mllp.Config{Addr: "127.0.0.1:0"}, mllp.HandlerFunc(func(_ context.Context, req *mllp.Request) {
		m, err := hl7.Parse(req.Message)
		if err != nil {
			t.Errorf("simulator sent an unparsable message: %v", err)
			return
		}
		mu.Lock()
		n++
		k := n % 5
		mu.Unlock()
		switch k {
		case 0:
			req.Reply(hl7.AppendAck(nil, m, hl7.AckOptions{Code: hl7.AA, ControlID: "X1"}))
		case 1:
			req.Reply(hl7.AppendAck(nil, m, hl7.AckOptions{Code: hl7.AE, ControlID: "X1", Problem: &hl7.Problem{Code: hl7.ErrDataType, Reason: "test"}}))
		case 2:
			req.Reply(hl7.AppendAck(nil, m, hl7.AckOptions{Code: hl7.AR, ControlID: "X1", Problem: &hl7.Problem{Code: hl7.ErrInternal, Reason: "test"}}))
		case 3:
			req.Reply([]byte("MSH|^~\\&|R|R|S|S|20240101||ACK|X2|P|2.6\rMSA|AA|SOMETHING-ELSE\r"))
		case 4:
			req.Reply([]byte("not hl7"))
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Run(ctx)
	hs, err := NewHL7(s, HL7Config{Addr: srv.Addr().String(), Interval: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { hs.Run(ctx); close(done) }()
	st := hs.Stats()
	eventually(t, 10*time.Second, func() error {
		if st.AA.Load() < 5 || st.AE.Load() < 5 || st.AR.Load() < 5 || st.Failed.Load() < 10 {
			return fmt.Errorf("AA %d AE %d AR %d failed %d", st.AA.Load(), st.AE.Load(), st.AR.Load(), st.Failed.Load())
		}
		return nil
	})
	cancel()
	<-done
	if got := st.AA.Load() + st.AE.Load() + st.AR.Load() + st.Failed.Load(); got != st.Sent.Load() {
		t.Fatalf("sent %d, acknowledged or failed %d", st.Sent.Load(), got)
	}
}

func TestHL7ScenarioActionsNeedHL7Devices(t *testing.T) {
	h := generate(t, 1, 300)
	printer, _ := h.Resolve(Selector{Class: "PRINTER"})
	gw, _ := h.Resolve(Selector{Class: "HL7_GATEWAY"})
	anes, _ := h.Resolve(Selector{Class: "ANESTHESIA_MACHINE"})
	for _, c := range []struct {
		e    Event
		want string
	}{
		{Event{Action: ActHL7Stop, Target: Selector{Name: printer.Name}}, "does not speak HL7"},
		{Event{Action: ActAlarm, Target: Selector{Name: gw.Name}}, "not a medical device"},
		{Event{Action: ActBatteryLow, Target: Selector{Name: anes.Name}}, "no battery"},
		{Event{Action: ActAlarm, Alarm: "occlusion", Target: Selector{Name: anes.Name}}, "MDC event name"},
		{Event{Action: ActPatientBound, Target: Selector{Name: anes.Name}, For: Duration(time.Second)}, ""},
		{Event{Action: ActHL7Stop, Target: Selector{Name: gw.Name}, For: Duration(time.Second)}, ""},
	} {
		_, err := c.e.resolve(h)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s on %s: %v, want %q", c.e.Action, c.e.Target.Name, err, c.want)
		}
	}
}
