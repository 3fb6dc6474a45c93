package discovery

import (
	"container/heap"
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"
)

// Emitter receives observations; the reporter implements it.
type Emitter interface {
	Emit(Observation)
}

// device is one SNMP agent the poller keeps watching. Only the poller's own goroutines
// touch it, under Poller.mu for the fields the scheduler reads.
type device struct {
	target   Target
	creds    []*Credential // ordered; creds[0] is the one that last worked
	location Location
	sys      SystemInfo

	state        State
	failures     int
	lastReported time.Time
	lastUpTime   time.Duration

	next  time.Time
	index int // heap index; -1 while being polled
}

// Poller polls known agents on a fixed interval, spread evenly, with bounded workers,
// and turns results into observations: on discovery, on change, and as refreshes.
type Poller struct {
	cfg     *Config
	ids     *idSource
	emit    Emitter
	log     *slog.Logger
	metrics *collectorMetrics
	now     func() time.Time

	mu      sync.Mutex
	devices map[Target]*device
	counts  map[State]int // devices per state, kept as states change
	queue   deviceHeap
	wake    chan struct{}
}

func newPoller(cfg *Config, ids *idSource, emit Emitter, m *collectorMetrics, log *slog.Logger) *Poller {
	return &Poller{
		cfg:     cfg,
		ids:     ids,
		emit:    emit,
		log:     log.With("component", "poller"),
		metrics: m,
		now:     time.Now,
		devices: map[Target]*device{},
		counts:  map[State]int{StateUp: 0, StateDown: 0, StateDegraded: 0},
		wake:    make(chan struct{}, 1),
	}
}

// Found is what a sweep (or a static target) learnt about a responding agent.
type Found struct {
	Target   Target
	Cred     *Credential
	Creds    []*Credential // the range's ordered list, for fallback
	Sys      SystemInfo
	Location Location
}

// Add starts tracking an agent, or refreshes what is known of it. The first sighting
// is reported at once.
func (p *Poller) Add(f Found) {
	now := p.now()
	p.mu.Lock()
	d, ok := p.devices[f.Target]
	if !ok {
		d = &device{target: f.Target, location: f.Location, state: StateUp, index: -1}
		d.creds = orderCreds(f.Cred, f.Creds)
		d.sys = f.Sys
		d.lastUpTime = f.Sys.UpTime
		d.lastReported = now
		d.next = now.Add(p.offset(f.Target))
		p.devices[f.Target] = d
		heap.Push(&p.queue, d)
		p.counts[StateUp]++
		p.metrics.setTracked(p.counts)
		obs := p.observation(d, KindDiscovered, SourceSNMPSweep, now)
		p.mu.Unlock()
		p.emit.Emit(obs)
		p.signal()
		return
	}
	d.creds = orderCreds(f.Cred, f.Creds)
	d.location = f.Location
	p.mu.Unlock()
}

func orderCreds(first *Credential, all []*Credential) []*Credential {
	out := []*Credential{first}
	for _, c := range all {
		if c != first {
			out = append(out, c)
		}
	}
	return out
}

// offset spreads first polls over the interval by a stable hash of the address, so a
// sweep that finds thousands of agents at once does not make them all due together.
func (p *Poller) offset(t Target) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(t.String()))
	return time.Duration(h.Sum64() % uint64(p.cfg.SNMP.PollInterval))
}

func (p *Poller) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Len returns the number of tracked devices.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.devices)
}

// Run schedules polls until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	work := make(chan *device)
	var wg sync.WaitGroup
	for range p.cfg.SNMP.PollWorkers {
		wg.Go(func() {
			for d := range work {
				p.poll(ctx, d)
			}
		})
	}
	defer wg.Wait()
	defer close(work)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var due *device
		wait := time.Hour
		if p.queue.Len() > 0 {
			head := p.queue[0]
			if d := head.next.Sub(p.now()); d <= 0 {
				due = heap.Pop(&p.queue).(*device)
			} else {
				wait = d
			}
		}
		p.mu.Unlock()

		if due != nil {
			select {
			case work <- due:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-p.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// poll polls one device with its credentials in order and records the outcome.
func (p *Poller) poll(ctx context.Context, d *device) {
	start := p.now()
	p.mu.Lock()
	creds := d.creds
	p.mu.Unlock()

	var (
		sys  SystemInfo
		err  error
		used int
	)
	for i, cr := range creds {
		sys, err = p.getSystem(ctx, d.target, cr)
		if err == nil {
			used = i
			break
		}
		if ctx.Err() != nil {
			return
		}
	}
	elapsed := p.now().Sub(start)
	p.metrics.pollDone(err == nil, elapsed)

	now := p.now()
	var out []Observation
	p.mu.Lock()
	if err == nil && used > 0 {
		// Remember the credential that worked so it is tried first next time.
		d.creds = orderCreds(creds[used], creds)
	}
	out = p.record(d, sys, err, now)
	d.next = start.Add(p.cfg.SNMP.PollInterval)
	if d.next.Before(now) {
		d.next = now
	}
	heap.Push(&p.queue, d)
	p.metrics.setTracked(p.counts)
	p.mu.Unlock()
	p.signal()
	for _, o := range out {
		p.emit.Emit(o)
	}
}

func (p *Poller) getSystem(ctx context.Context, t Target, cr *Credential) (SystemInfo, error) {
	g, err := newSession(ctx, t, cr, p.sessionParams())
	if err != nil {
		return SystemInfo{}, err
	}
	defer g.Conn.Close()
	return getSystem(g)
}

func (p *Poller) sessionParams() SessionParams {
	return SessionParams{
		Timeout: p.cfg.SNMP.Timeout,
		Retries: p.cfg.SNMP.Retries,
		OnSent:  p.metrics.packetSent,
		OnRetry: p.metrics.packetRetried,
	}
}

// record applies a poll result to the device (p.mu held) and returns what to report.
func (p *Poller) record(d *device, sys SystemInfo, err error, now time.Time) []Observation {
	var out []Observation
	if err != nil {
		d.failures++
		if d.failures >= p.cfg.SNMP.DownAfter && d.state != StateDown {
			p.setState(d, StateDown)
			p.log.Info("device down", "target", d.target.String(), "name", d.sys.Name, "failures", d.failures, "err", err)
			out = append(out, p.observation(d, KindChange, SourceSNMPPoll, now))
			d.lastReported = now
		}
	} else {
		wasDown := d.state != StateUp
		identityChanged := sys.Name != d.sys.Name || sys.Descr != d.sys.Descr || sys.ObjectID != d.sys.ObjectID || sys.Location != d.sys.Location
		rebooted := d.lastUpTime > 0 && sys.UpTime < d.lastUpTime && !wasDown
		d.failures = 0
		d.sys = sys
		d.lastUpTime = sys.UpTime
		p.setState(d, StateUp)
		if rebooted {
			ev := p.observation(d, KindEvent, SourceSNMPPoll, now)
			ev.Condition = CondDeviceRebooted
			ev.Conditions = nil
			ev.Detail = "sysUpTime decreased"
			out = append(out, ev)
		}
		if wasDown || identityChanged {
			if wasDown {
				p.log.Info("device up", "target", d.target.String(), "name", sys.Name)
			}
			out = append(out, p.observation(d, KindChange, SourceSNMPPoll, now))
			d.lastReported = now
		}
	}
	if now.Sub(d.lastReported) >= p.cfg.Refresh {
		out = append(out, p.observation(d, KindRefresh, SourceSNMPPoll, now))
		d.lastReported = now
	}
	return out
}

// observation builds the full-state observation of a device (p.mu held).
func (p *Poller) observation(d *device, kind Kind, src Source, now time.Time) Observation {
	o := Observation{
		ID:         p.ids.next(),
		Collector:  p.cfg.Name,
		Site:       p.cfg.Site,
		ObservedAt: now,
		ValidUntil: now.Add(p.validity()),
		Source:     src,
		Kind:       kind,
		Address:    &Address{IP: d.target.Host, Port: int(d.target.Port)},
		Identity: Identity{
			SysName:     d.sys.Name,
			SysDescr:    d.sys.Descr,
			SysObjectID: d.sys.ObjectID,
		},
		State:      d.state,
		Conditions: []string{},
	}
	loc := d.location
	loc.Raw = d.sys.Location
	if !loc.IsZero() {
		o.Location = &loc
	}
	if d.state == StateDown {
		o.Condition = CondSNMPUnreachable
		o.Conditions = []string{CondSNMPUnreachable}
	}
	return o
}

// validity is how long an observation stays true without a refresh: long enough to
// survive two missed refreshes, so one lost batch never makes a device UNKNOWN.
func (p *Poller) validity() time.Duration {
	v := 3 * p.cfg.Refresh
	if min := 3 * p.cfg.SNMP.PollInterval; v < min {
		v = min
	}
	return v
}

// setState moves a device to s and keeps the per-state counts (p.mu held).
func (p *Poller) setState(d *device, s State) {
	if d.state == s {
		return
	}
	p.counts[d.state]--
	p.counts[s]++
	d.state = s
}

// deviceHeap orders devices by next poll time.
type deviceHeap []*device

func (h deviceHeap) Len() int           { return len(h) }
func (h deviceHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h deviceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *deviceHeap) Push(x any) {
	d := x.(*device)
	d.index = len(*h)
	*h = append(*h, d)
}
func (h *deviceHeap) Pop() any {
	old := *h
	n := len(old)
	d := old[n-1]
	old[n-1] = nil
	d.index = -1
	*h = old[:n-1]
	return d
}
