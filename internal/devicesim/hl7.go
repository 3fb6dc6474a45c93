package devicesim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
)

// HL7Config configures the HL7 senders of a simulated hospital.
type HL7Config struct {
	// Addr is the MLLP receiver (a collector's hl7.listen) senders connect to.
	Addr string
	// SiteAddrs overrides Addr for the devices of a site (by code or name), for one
	// collector per site.
	SiteAddrs map[string]string
	// Interval is how often each device sends its periodic message (default 10s):
	// a PCD-01 observation through its gateway, or an NMD^N02 heartbeat when it
	// reports directly. Gateways send a heartbeat on each connection as often.
	Interval time.Duration
	// IdentityEvery is how many periodic messages go by between two full MEM-DMC
	// identity reports (default 6; the first message always carries it).
	IdentityEvery int
	// ConnsPerGateway is how many connections each gateway spreads its devices over
	// (default 2).
	ConnsPerGateway int
	// DirectPerConn is how many devices that report directly share one connection
	// (default 250): the simulator bounds its sockets, the receiver cannot tell.
	DirectPerConn int
	// Timeout bounds connecting and waiting for each acknowledgement (default 5s).
	Timeout time.Duration
	// TLS, when set, is used to connect.
	TLS    *tls.Config
	Logger *slog.Logger
}

// HL7Stats counts what the senders did. Every message sent waits for its
// acknowledgement: AA, AE and AR count the codes received, Failed the messages that
// got none (write or read error, timeout, an answer that is not an ACK or
// acknowledges another message).
type HL7Stats struct {
	Sent, AA, AE, AR, Failed atomic.Uint64
	// Unsent counts messages not sent for want of a connection.
	Unsent                    atomic.Uint64
	Connects, ConnectFailures atomic.Uint64
	Heartbeats, Observations  atomic.Uint64 // NMD^N02; ORU^R01 (device and self reports)
	Alarms                    atomic.Uint64 // ORU^R40
}

// HL7 sends the HL7 messages of every HL7-speaking device of a simulated hospital
// over a bounded number of MLLP connections: devices behind a gateway through the
// gateway's connections (MSH-3 the gateway, OBX-18 the device), so that a gateway
// outage silences them; the others over shared direct connections.
type HL7 struct {
	sim   *Sim
	cfg   HL7Config
	log   *slog.Logger
	lanes []*lane
	where map[*Device]slot    // device -> its place in a lane
	gws   map[*Device][]*lane // gateway -> its lanes
	stats HL7Stats
}

// slot is a device's place in a lane.
type slot struct {
	l *lane
	i int32
}

// NewHL7 prepares the senders of sim's hospital and attaches them to sim, so that
// scenario events reach them at once. Nothing connects before Run.
func NewHL7(sim *Sim, cfg HL7Config) (*HL7, error) {
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Interval < 10*time.Millisecond {
		return nil, fmt.Errorf("hl7 interval %s is below 10ms", cfg.Interval)
	}
	if cfg.IdentityEvery <= 0 {
		cfg.IdentityEvery = 6
	}
	if cfg.ConnsPerGateway <= 0 {
		cfg.ConnsPerGateway = 2
	}
	if cfg.DirectPerConn <= 0 {
		cfg.DirectPerConn = 250
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = sim.log
	}
	h := &HL7{sim: sim, cfg: cfg, log: cfg.Logger.With("component", "devicesim-hl7"),
		where: map[*Device]slot{}, gws: map[*Device][]*lane{}}
	for _, s := range sim.h.Sites {
		addr := cfg.Addr
		if a, ok := cfg.SiteAddrs[s.Code]; ok {
			addr = a
		} else if a, ok := cfg.SiteAddrs[s.Name]; ok {
			addr = a
		}
		if addr == "" {
			return nil, fmt.Errorf("hl7: no receiver address for site %s", s.Name)
		}
		behind := map[*Device][]*Device{}
		var direct []*Device
		for _, d := range s.devices {
			switch {
			case !d.Class.SpeaksHL7() || d.Class == HL7Gateway:
			case d.Gateway != nil:
				behind[d.Gateway] = append(behind[d.Gateway], d)
			default:
				direct = append(direct, d)
			}
		}
		for _, gw := range s.Gateways {
			devs := behind[gw]
			n := min(cfg.ConnsPerGateway, max(1, len(devs)))
			for c := range n {
				l := h.newLane(addr, gw)
				// Each connection carries the gateway's own heartbeat first.
				l.add(gw)
				for i := c; i < len(devs); i += n {
					h.where[devs[i]] = slot{l, int32(len(l.items))}
					l.add(devs[i])
				}
				h.gws[gw] = append(h.gws[gw], l)
			}
		}
		for i := 0; i < len(direct); i += cfg.DirectPerConn {
			l := h.newLane(addr, nil)
			for _, d := range direct[i:min(i+cfg.DirectPerConn, len(direct))] {
				h.where[d] = slot{l, int32(len(l.items))}
				l.add(d)
			}
		}
	}
	sim.hl7.Store(h)
	return h, nil
}

func (h *HL7) newLane(addr string, gw *Device) *lane {
	l := &lane{h: h, id: len(h.lanes), addr: addr, gw: gw, kicks: make(chan int32, 64), wake: make(chan struct{}, 1),
		backoff: minBackoff}
	l.ctlPrefix = "S" + strconv.FormatInt(int64(l.id), 36) + "-"
	h.lanes = append(h.lanes, l)
	return l
}

// Stats returns the live counters.
func (h *HL7) Stats() *HL7Stats { return &h.stats }

// Connections returns how many MLLP connections the senders use when all are up.
func (h *HL7) Connections() int { return len(h.lanes) }

// Devices returns how many devices (gateways included) send HL7.
func (h *HL7) Devices() int { return len(h.where) + len(h.gws) }

// Run sends until ctx ends, then closes every connection.
func (h *HL7) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range h.lanes {
		wg.Go(func() { l.run(ctx) })
	}
	h.log.Info("hl7 senders started", "devices", h.Devices(), "connections", len(h.lanes), "interval", h.cfg.Interval)
	wg.Wait()
	return nil
}

// kick has a device's lane report its change now (a gateway: re-check its links).
func (h *HL7) kick(d *Device) {
	for _, l := range h.gws[d] {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if s, ok := h.where[d]; ok {
		select {
		case s.l.kicks <- s.i:
		default: // the periodic message carries the change soon enough
		}
	}
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// lane is one MLLP connection and the devices whose messages it carries, each sent
// in turn, spread evenly over the interval. One goroutine owns all of it.
type lane struct {
	h         *HL7
	id        int
	addr      string
	gw        *Device // nil: devices reporting directly
	items     []*Device
	st        []sendState
	kicks     chan int32
	wake      chan struct{}
	ctlPrefix string

	client  *mllp.Client
	retryAt time.Time
	backoff time.Duration
	seq     uint64
	recv    uint64 // acknowledgements received on this connection, for NMD's NST
	m       msg
	warned  time.Time
}

// sendState is what a device last told the receiver.
type sendState struct {
	n       uint32 // periodic messages sent
	alarm   string // technical alarm reported active
	patient uint64
	bound   bool
	battLow bool
	stale   bool // periodic messages were missed: the next one says everything
}

func (l *lane) add(d *Device) {
	l.items = append(l.items, d)
	l.st = append(l.st, sendState{})
}

func (l *lane) run(ctx context.Context) {
	defer l.disconnect()
	n := len(l.items)
	step := l.h.cfg.Interval / time.Duration(n)
	// Lanes start spread over one step, not all at once.
	next := time.Now().Add(time.Duration(l.id%16) * step / 16)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for k := 0; ; {
		select {
		case <-ctx.Done():
			return
		case i := <-l.kicks:
			l.urgent(ctx, int(i))
			continue
		case <-l.wake:
			if !l.gwUp() {
				l.disconnect()
			}
			continue
		case <-timer.C:
		}
		l.periodic(ctx, k)
		k = (k + 1) % n
		next = next.Add(step)
		if now := time.Now(); now.Sub(next) > l.h.cfg.Interval {
			next = now // far behind (a stalled receiver): do not burst to catch up
		}
		timer.Reset(time.Until(next))
	}
}

// gwUp reports whether the lane's gateway (if any) is on the network.
func (l *lane) gwUp() bool { return l.gw == nil || l.gw.Reachable() }

// canSend reports whether device i can reach the receiver now.
func (l *lane) canSend(i int) bool {
	d := l.items[i]
	return l.gwUp() && d.Reachable() && !d.HL7Silent()
}

// periodic sends item i's regular message(s).
func (l *lane) periodic(ctx context.Context, i int) {
	if !l.gwUp() {
		l.disconnect()
	}
	st := &l.st[i]
	if !l.canSend(i) {
		st.stale = true
		return
	}
	d := l.items[i]
	full := st.n%uint32(l.h.cfg.IdentityEvery) == 0 || st.stale
	ok := true
	switch {
	case d == l.gw:
		ok = l.heartbeat(ctx, d)
		if ok && full && l == l.h.gws[d][0] {
			ok = l.selfReport(ctx, d)
		}
	case l.gw != nil:
		ok = l.observation(ctx, i, full)
	default:
		ok = l.heartbeat(ctx, d)
		if ok && (full || l.changed(i)) {
			ok = l.observation(ctx, i, true)
		}
	}
	if ok && d != l.gw {
		ok = l.alarm(ctx, i, true)
	}
	if ok {
		st.n++
		st.stale = false
	} else {
		st.stale = true
	}
}

// urgent reports item i's change at once.
func (l *lane) urgent(ctx context.Context, i int) {
	if !l.canSend(i) {
		l.st[i].stale = true
		return
	}
	if l.changed(i) {
		l.observation(ctx, i, true)
	}
	l.alarm(ctx, i, false)
}

// changed reports whether item i's patient or battery differ from what it last said.
func (l *lane) changed(i int) bool {
	d, st := l.items[i], &l.st[i]
	n, bound := d.Patient()
	return bound != st.bound || n != st.patient || (d.Battery() >= 0 && d.st.battLow.Load() != st.battLow)
}

func (l *lane) observation(ctx context.Context, i int, full bool) bool {
	d, st := l.items[i], &l.st[i]
	sender := d
	if l.gw != nil {
		sender = l.gw
	}
	ctl := l.controlID()
	l.m.reset(time.Now())
	l.m.pcd01(sender, d, ctl, full, st.n)
	n, bound := d.Patient()
	low := d.st.battLow.Load()
	if !l.send(ctx, ctl, &l.h.stats.Observations) {
		return false
	}
	st.patient, st.bound, st.battLow = n, bound, low
	return true
}

// alarm sends a PCD-04 when item i's technical alarm started or ended, and with
// repeat, a "continue" while it lasts.
func (l *lane) alarm(ctx context.Context, i int, repeat bool) bool {
	d, st := l.items[i], &l.st[i]
	cur := d.Alarm()
	var event, phase string
	switch {
	case cur != "" && cur != st.alarm:
		if st.alarm != "" && !l.sendAlarm(ctx, i, st.alarm, "end") {
			return false
		}
		event, phase = cur, "start"
	case cur == "" && st.alarm != "":
		event, phase = st.alarm, "end"
	case cur != "" && repeat:
		event, phase = cur, "continue"
	default:
		return true
	}
	if !l.sendAlarm(ctx, i, event, phase) {
		return false
	}
	st.alarm = cur
	return true
}

func (l *lane) sendAlarm(ctx context.Context, i int, event, phase string) bool {
	d := l.items[i]
	sender := d
	if l.gw != nil {
		sender = l.gw
	}
	ctl := l.controlID()
	l.m.reset(time.Now())
	l.m.pcd04(sender, d, ctl, event, phase)
	return l.send(ctx, ctl, &l.h.stats.Alarms)
}

func (l *lane) heartbeat(ctx context.Context, d *Device) bool {
	ctl := l.controlID()
	l.m.reset(time.Now())
	l.m.heartbeat(d, ctl, l.recv, l.seq-1)
	return l.send(ctx, ctl, &l.h.stats.Heartbeats)
}

func (l *lane) selfReport(ctx context.Context, d *Device) bool {
	ctl := l.controlID()
	l.m.reset(time.Now())
	l.m.selfReport(d, ctl)
	return l.send(ctx, ctl, &l.h.stats.Observations)
}

// controlID returns a new MSH-10: unique per lane, at most 20 characters.
func (l *lane) controlID() string {
	l.seq++
	return l.ctlPrefix + strconv.FormatUint(l.seq, 36)
}

// send sends the message built in l.m and checks its acknowledgement.
func (l *lane) send(ctx context.Context, controlID string, kind *atomic.Uint64) bool {
	st := &l.h.stats
	if !l.connect(ctx) {
		st.Unsent.Add(1)
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, l.h.cfg.Timeout)
	defer cancel()
	resp, err := l.client.Send(sctx, l.m.b)
	if err != nil && ctx.Err() != nil {
		return false // stopping: not counted
	}
	st.Sent.Add(1)
	kind.Add(1)
	if err != nil {
		st.Failed.Add(1)
		l.warn("hl7 send failed", "err", err)
		l.disconnect()
		return false
	}
	l.recv++
	ack, err := hl7.ReadAck(resp)
	switch {
	case err != nil:
		st.Failed.Add(1)
		l.warn("hl7 acknowledgement unreadable", "control_id", controlID, "err", err)
		return false
	case ack.ControlID != controlID:
		st.Failed.Add(1)
		l.warn("hl7 acknowledgement for another message", "control_id", controlID, "acknowledged", ack.ControlID)
		return false
	}
	switch ack.Code {
	case hl7.AA, hl7.CA:
		st.AA.Add(1)
		return true
	case hl7.AE, hl7.CE:
		st.AE.Add(1)
		l.warn("hl7 message accepted with error", "control_id", controlID, "reason", ack.Reason)
		return true
	case hl7.AR, hl7.CR:
		st.AR.Add(1)
		l.warn("hl7 message rejected", "control_id", controlID, "reason", ack.Reason)
		return false
	}
	st.Failed.Add(1)
	l.warn("hl7 acknowledgement with unknown code", "control_id", controlID, "code", ack.Code)
	return false
}

// connect makes sure the lane has a connection, dialling at most once per backoff.
func (l *lane) connect(ctx context.Context) bool {
	if l.client != nil {
		return true
	}
	if !l.gwUp() || time.Now().Before(l.retryAt) {
		return false
	}
	dctx, cancel := context.WithTimeout(ctx, l.h.cfg.Timeout)
	defer cancel()
	c, err := mllp.Dial(dctx, l.addr, l.h.cfg.TLS)
	if err != nil {
		l.h.stats.ConnectFailures.Add(1)
		l.retryAt = time.Now().Add(l.backoff)
		l.backoff = min(2*l.backoff, maxBackoff)
		if !errors.Is(err, context.Canceled) {
			l.warn("hl7 connect failed", "err", err)
		}
		return false
	}
	c.Timeout = l.h.cfg.Timeout
	l.client, l.backoff, l.recv = c, minBackoff, 0
	l.h.stats.Connects.Add(1)
	return true
}

func (l *lane) disconnect() {
	if l.client != nil {
		l.client.Close()
		l.client = nil
	}
}

// warn logs at most one warning per lane every 10 seconds; the rest go to debug.
func (l *lane) warn(msg string, args ...any) {
	args = append(args, "lane", l.id, "addr", l.addr)
	if l.gw != nil {
		args = append(args, "gateway", l.gw.Name)
	}
	if now := time.Now(); now.Sub(l.warned) > 10*time.Second {
		l.warned = now
		l.h.log.Warn(msg, args...)
		return
	}
	l.h.log.Debug(msg, args...)
}
