package devicesim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseScenarioIsStrict(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":      {"events:\n  - at: 1s\n    action: down\n    target: {name: x}\n    colour: red\n", "colour"},
		"unknown action":   {"events:\n  - action: explode\n    target: {name: x}\n", `action "explode"`},
		"no target":        {"events:\n  - action: down\n", "needs a target"},
		"collector target": {"events:\n  - action: collector_down\n    target: {name: x}\n", "takes no target"},
		"flap without":     {"events:\n  - action: flap\n    target: {name: x}\n", "flap needs"},
		"bad duration":     {"events:\n  - at: soon\n    action: down\n    target: {name: x}\n", "soon"},
		"no revert":        {"events:\n  - action: reboot\n    for: 5s\n    target: {name: x}\n", "cannot be reverted"},
		"link no port":     {"events:\n  - action: link_down\n    target: {name: x}\n", "needs a port"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestScenarioValidateNamesTheBadTarget(t *testing.T) {
	h := generate(t, 1, 200)
	sc, err := ParseScenario([]byte(`events:
  - action: ups_on_battery
    target: {class: PRINTER}
  - action: down
    target: {class: VENTILATOR, care_area: ADMIN}
  - action: down
    target: {class: TOASTER}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = sc.Validate(h)
	for _, want := range []string{"events[0]", "not a UPS", "events[1]", "0 device(s) match", "events[2]", "TOASTER"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q in it", err, want)
		}
	}
}

func TestApplyRevertsAndFlaps(t *testing.T) {
	h, s := startSim(t, 200, Config{})
	var mu sync.Mutex
	var seen []string
	s.OnEvent(func(a Applied) {
		mu.Lock()
		seen = append(seen, a.Event.Action+" "+a.Device)
		mu.Unlock()
	})
	ctx := t.Context()
	vent, _ := h.Resolve(Selector{Class: "VENTILATOR"})
	if _, err := s.Apply(ctx, Event{Action: ActDown, Target: Selector{Name: vent.Name}, For: Duration(100 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if vent.Reachable() {
		t.Fatal("ventilator still reachable after down")
	}
	waitFor(t, func() bool { return vent.Reachable() })
	mon, _ := h.Resolve(Selector{Class: "PATIENT_MONITOR", CareArea: Ward})
	if _, err := s.Apply(ctx, Event{Action: ActFlap, Target: Selector{Name: mon.Name}, Period: Duration(20 * time.Millisecond), Count: 4}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(strings.Join(seen, "\n"), mon.Name) >= 5 // flap + 4 transitions
	})
	waitFor(t, func() bool { return mon.Reachable() })
	if _, err := s.Apply(ctx, Event{Action: ActCollectorDown, For: Duration(10 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(seen, "\n"), ActCollectorUp)
	})
	pump, _ := h.Resolve(Selector{Class: "INFUSION_PUMP"})
	before := pump.Firmware()
	a, err := s.Apply(ctx, Event{Action: ActFirmware, Target: Selector{Name: pump.Name}})
	if err != nil || pump.Firmware() == before || !strings.Contains(a.Detail, pump.Firmware()) {
		t.Fatalf("firmware: %v, %q -> %q (%s)", err, before, pump.Firmware(), a.Detail)
	}
	if !strings.Contains(pump.SysDescr(), pump.Firmware()) {
		t.Fatalf("sysDescr %q does not show the new firmware %q", pump.SysDescr(), pump.Firmware())
	}
}

func TestDefaultScenarioRunsScaled(t *testing.T) {
	h, s := startSim(t, 200, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.RunScenario(ctx, DefaultScenario(), 0.01); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a 0.01 scale run took %s", took)
	}
	hist := s.History()
	actions := map[string]bool{}
	for _, a := range hist {
		actions[a.Event.Action] = true
	}
	for _, want := range []string{ActDown, ActUPSOnBattery, ActReboot, ActFlap, ActFirmware, ActUPSBatteryLow, ActHL7Stop, ActAlarm} {
		if !actions[want] {
			t.Errorf("scenario never applied %s", want)
		}
	}
	ups, _ := h.Resolve(Selector{Class: "UPS", CareArea: OR})
	if ups.UPS() != UPSOnline {
		t.Errorf("OR UPS ends %s, want online", ups.UPS())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestControlEndpoint(t *testing.T) {
	h, s := startSim(t, 200, Config{})
	if _, err := NewControl(s, "0.0.0.0:0"); err == nil {
		t.Fatal("control endpoint accepted a non-loopback address")
	}
	c, err := NewControl(s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.URL()+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("GET", "/devices?class=VENTILATOR&care_area=ICU", "")
	var list []DeviceInfo
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) == 0 {
		t.Fatalf("GET /devices: %d %s", code, body)
	}
	for _, d := range list {
		if d.Class != "VENTILATOR" || d.CareArea != ICU || d.EUI64 == "" || !d.Reachable {
			t.Fatalf("device %+v", d)
		}
	}
	name := list[0].Name
	if code, body = call("POST", "/devices/"+name+"/down?for=1m", ""); code != 200 || !strings.Contains(body, name) {
		t.Fatalf("POST down: %d %s", code, body)
	}
	if h.Device(name).Reachable() {
		t.Fatal("device still reachable after POST down")
	}
	if code, body = call("GET", "/devices?down=true", ""); !strings.Contains(body, name) {
		t.Fatalf("GET /devices?down=true: %d %s", code, body)
	}
	if code, body = call("POST", "/events", `{"action":"up","target":{"name":"`+name+`"}}`); code != 200 {
		t.Fatalf("POST /events: %d %s", code, body)
	}
	if !h.Device(name).Reachable() {
		t.Fatal("device not back after POST /events up")
	}
	for _, bad := range []struct{ method, path, body string }{
		{"POST", "/events", `{"action":"down","target":{"name":"nope"}}`},
		{"POST", "/events", `{"action":"down","colour":"red"}`},
		{"POST", "/devices/" + name + "/explode", ""},
		{"GET", "/devices?class=TOASTER", ""},
		{"GET", "/devices?limit=-1", ""},
	} {
		if code, body = call(bad.method, bad.path, bad.body); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("%s %s %s: %d %s, want 400 with an error", bad.method, bad.path, bad.body, code, body)
		}
	}
	if code, _ = call("GET", "/devices/nope", ""); code != 404 {
		t.Errorf("GET /devices/nope: %d", code)
	}
	code, body = call("GET", "/collector.yaml", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf("port: %d", s.Port())) || !strings.Contains(body, h.Units[1].Prefix.String()) {
		t.Fatalf("collector.yaml: %d %s", code, body)
	}
}
