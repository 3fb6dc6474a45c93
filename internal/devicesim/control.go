package devicesim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// DeviceInfo is a device as the control endpoint lists it.
type DeviceInfo struct {
	Name         string `json:"name"`
	IP           string `json:"ip"`
	Port         int    `json:"port"`
	Class        string `json:"class"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	Firmware     string `json:"firmware"`
	SysObjectID  string `json:"sysObjectID"`
	MAC          string `json:"mac"`
	EUI64        string `json:"eui64,omitempty"`
	EngineID     string `json:"engineId"`
	HL7          bool   `json:"hl7"`
	Site         string `json:"site"`
	Building     string `json:"building"`
	Floor        int    `json:"floor"`
	Unit         string `json:"unit"`
	CareArea     string `json:"careArea"`
	Location     string `json:"location"`
	Uplink       string `json:"uplink,omitempty"`
	UplinkPort   string `json:"uplinkPort,omitempty"`
	Gateway      string `json:"gateway,omitempty"`
	PoweredBy    string `json:"poweredBy,omitempty"`
	Down         bool   `json:"down"`
	Reachable    bool   `json:"reachable"`
	UPS          string `json:"ups,omitempty"`
	UpSince      string `json:"upSince"`
	// HL7 devices: what they report.
	PatientConnected bool   `json:"patientConnected,omitempty"`
	Alarm            string `json:"alarm,omitempty"`
	Battery          *int   `json:"battery,omitempty"`
	HL7Silent        bool   `json:"hl7Silent,omitempty"`
}

// Info describes a device now.
func (s *Sim) Info(d *Device) DeviceInfo {
	u := d.Unit
	in := DeviceInfo{
		Name: d.Name, IP: d.IP().String(), Port: s.Port(), Class: d.Class.String(),
		Manufacturer: d.Model.Manufacturer, Model: d.Model.Name, Serial: d.Serial, Firmware: d.Firmware(),
		SysObjectID: oidString(d.Model.ObjectID), MAC: d.MACString(), EUI64: d.EUI64(), EngineID: d.EngineID(),
		HL7: d.Class.SpeaksHL7(), Site: u.Site.Name, Building: u.Building, Floor: u.Floor, Unit: u.Name,
		CareArea: u.CareArea, Location: d.Location(), Down: d.Down(), Reachable: d.Reachable(),
		UpSince: d.BootTime().UTC().Format(time.RFC3339),
	}
	if d.Uplink != nil {
		in.Uplink, in.UplinkPort = d.Uplink.Name, ifDescr(d.Uplink, int(d.Port))
	}
	if d.Gateway != nil {
		in.Gateway = d.Gateway.Name
	}
	if d.Power != nil {
		in.PoweredBy = d.Power.Name
	}
	if d.Class == UPS {
		in.UPS = d.UPS().String()
	}
	if d.Class.SpeaksHL7() {
		_, in.PatientConnected = d.Patient()
		in.Alarm, in.HL7Silent = d.Alarm(), d.HL7Silent()
		if b := d.Battery(); b >= 0 {
			in.Battery = &b
		}
	}
	return in
}

func oidString(o []uint32) string {
	var b strings.Builder
	for i, s := range o {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(s), 10))
	}
	return b.String()
}

// Control is the simulator's HTTP control endpoint: list devices and trigger events by
// hand. It has no authentication, so it only listens on loopback.
type Control struct {
	sim *Sim
	ln  net.Listener
	srv *http.Server
	ctx context.Context
}

// NewControl binds the control endpoint on a loopback address.
func NewControl(s *Sim, listen string) (*Control, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("control address %q: %w", listen, err)
	}
	if a, err := netip.ParseAddr(host); (err != nil && host != "localhost") || (err == nil && !a.IsLoopback()) {
		return nil, fmt.Errorf("control address %q: must be a loopback address (the endpoint has no authentication)", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	c := &Control{sim: s, ln: ln, ctx: context.Background()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /devices", c.devices)
	mux.HandleFunc("GET /devices/{name}", c.device)
	mux.HandleFunc("POST /devices/{name}/{action}", c.deviceAction)
	mux.HandleFunc("GET /units", c.units)
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.History()) })
	mux.HandleFunc("POST /events", c.event)
	mux.HandleFunc("GET /stats", c.stats)
	mux.HandleFunc("GET /collector.yaml", c.collectorYAML)
	mux.HandleFunc("GET /{$}", c.index)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return c, nil
}

// Addr is the bound address.
func (c *Control) Addr() string { return c.ln.Addr().String() }

// URL is the endpoint's base URL.
func (c *Control) URL() string { return "http://" + c.Addr() }

// Run serves until ctx ends. Events triggered by hand live as long as ctx.
func (c *Control) Run(ctx context.Context) error {
	c.ctx = ctx
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.srv.Shutdown(sctx)
	}()
	if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const controlHelp = `devicesim control endpoint
GET  /devices?class=&care_area=&unit=&site=&down=true&limit=&offset=   list devices
GET  /devices/NAME                                   one device
POST /devices/NAME/ACTION?for=30s&version=&port=&alarm=
                                                     down up reboot firmware ups_on_battery
                                                     ups_battery_low ups_online link_down link_up flap
                                                     hl7_stop hl7_start technical_alarm technical_alarm_end
                                                     battery_low battery_ok patient_bound patient_unbound
POST /events   {"action":"down","target":{"class":"VENTILATOR","careArea":"ICU"},"for":"1m"}
GET  /events                                         what happened so far
GET  /units, /stats, /collector.yaml (ranges for a collector config)
`

func (c *Control) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, controlHelp)
}

func (c *Control) devices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sel := Selector{Class: q.Get("class"), CareArea: q.Get("care_area"), Unit: q.Get("unit"), Site: q.Get("site"), Name: q.Get("name")}
	if sel.Class != "" {
		if _, err := ParseClass(sel.Class); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
	}
	limit, offset := 1000, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			httpError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1..100000", v))
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, fmt.Errorf("offset %q: want a number >= 0", v))
			return
		}
		offset = n
	}
	onlyDown := q.Get("down") == "true"
	out := []DeviceInfo{}
	n := 0
	for _, d := range c.sim.h.Devices {
		if !sel.Matches(d) || (onlyDown && d.Reachable()) {
			continue
		}
		if n >= offset && len(out) < limit {
			out = append(out, c.sim.Info(d))
		}
		n++
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(n))
	writeJSON(w, http.StatusOK, out)
}

func (c *Control) device(w http.ResponseWriter, r *http.Request) {
	d := c.sim.h.Device(r.PathValue("name"))
	if d == nil {
		httpError(w, http.StatusNotFound, fmt.Errorf("no device named %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, c.sim.Info(d))
}

func (c *Control) deviceAction(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e := Event{Action: r.PathValue("action"), Target: Selector{Name: r.PathValue("name")}, Version: q.Get("version"),
		Alarm: q.Get("alarm"), Note: "by hand"}
	for _, p := range []struct {
		key string
		dst *Duration
	}{{"for", &e.For}, {"period", &e.Period}} {
		if v := q.Get(p.key); v != "" {
			if err := p.dst.UnmarshalText([]byte(v)); err != nil {
				httpError(w, http.StatusBadRequest, fmt.Errorf("%s: %w", p.key, err))
				return
			}
		}
	}
	for _, p := range []struct {
		key string
		dst *int
	}{{"port", &e.Port}, {"count", &e.Count}} {
		if v := q.Get(p.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				httpError(w, http.StatusBadRequest, fmt.Errorf("%s %q is not a number", p.key, v))
				return
			}
			*p.dst = n
		}
	}
	c.apply(w, e)
}

func (c *Control) event(w http.ResponseWriter, r *http.Request) {
	var e Event
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("event: %w", err))
		return
	}
	if e.Note == "" {
		e.Note = "by hand"
	}
	c.apply(w, e)
}

func (c *Control) apply(w http.ResponseWriter, e Event) {
	e.At = 0
	a, err := c.sim.Apply(c.ctx, e)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// UnitInfo is a unit as the control endpoint lists it.
type UnitInfo struct {
	Site     string `json:"site"`
	Name     string `json:"name"`
	Building string `json:"building"`
	Floor    int    `json:"floor"`
	CareArea string `json:"careArea"`
	Prefix   string `json:"prefix"`
	Devices  int    `json:"devices"`
	Beds     int    `json:"beds,omitempty"`
	Rooms    int    `json:"rooms,omitempty"`
}

func (c *Control) units(w http.ResponseWriter, _ *http.Request) {
	out := make([]UnitInfo, 0, len(c.sim.h.Units))
	for _, u := range c.sim.h.Units {
		out = append(out, UnitInfo{Site: u.Site.Name, Name: u.Name, Building: u.Building, Floor: u.Floor,
			CareArea: u.CareArea, Prefix: u.Prefix.String(), Devices: len(u.Devices), Beds: u.Beds, Rooms: u.Rooms})
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Control) stats(w http.ResponseWriter, _ *http.Request) {
	st := c.sim.Stats()
	down := 0
	for _, d := range c.sim.h.Devices {
		if !d.Reachable() {
			down++
		}
	}
	out := map[string]any{
		"devices": len(c.sim.h.Devices), "unreachableDevices": down,
		"received": st.Received.Load(), "answered": st.Answered.Load(), "dropped": st.Dropped.Load(),
		"droppedUnreachable": st.Unreachable.Load(), "badCommunity": st.BadCommunity.Load(),
		"malformed": st.Malformed.Load(), "v3Reports": st.Reports.Load(),
		"trapsSent": st.TrapsSent.Load(), "trapErrors": st.TrapErrors.Load(),
		// The process's own figures, for soak runs that watch it for leaks.
		"goroutines": runtime.NumGoroutine(), "heapInuseBytes": heapInuse(),
	}
	if h := c.sim.hl7.Load(); h != nil {
		hs := h.Stats()
		out["hl7"] = map[string]any{
			"devices": h.Devices(), "connections": h.Connections(),
			"sent": hs.Sent.Load(), "aa": hs.AA.Load(), "ae": hs.AE.Load(), "ar": hs.AR.Load(), "failed": hs.Failed.Load(),
			"unsent": hs.Unsent.Load(), "connects": hs.Connects.Load(), "connectFailures": hs.ConnectFailures.Load(),
			"heartbeats": hs.Heartbeats.Load(), "observations": hs.Observations.Load(), "alarms": hs.Alarms.Load(),
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func (c *Control) collectorYAML(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	io.WriteString(w, c.sim.h.CollectorRanges(c.sim.Port()))
}

// CollectorRanges renders the snmp part of a collector configuration whose ranges
// cover every unit, with each unit's location, for agents on port.
func (h *Hospital) CollectorRanges(port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d simulated devices in %d units (devicesim, seed %d)\nsnmp:\n  port: %d\n", len(h.Devices), len(h.Units), h.Seed, port)
	b.WriteString("  credentials:\n    - {name: public-v2, version: 2c, community: public}\n")
	b.WriteString("    - {name: biomed-v3, version: 3, username: biomed, auth_protocol: SHA, auth_passphrase: biomed-auth-pass, priv_protocol: AES, priv_passphrase: biomed-priv-pass}\n")
	b.WriteString("  ranges:\n")
	for _, u := range h.Units {
		fmt.Fprintf(&b, "    - cidr: %s\n      credentials: [public-v2]\n      location: {building: %q, floor: \"%d\", unit: %q, care_area: %s}\n",
			u.Prefix, u.Building, u.Floor, u.Name, u.CareArea)
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
