package discovery

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Emitter receives observations; the reporter implements it.
type Emitter interface {
	Emit(observation.Observation)
}

// Lanes keep failing devices away from healthy ones, so a thousand dead devices
// waiting out their timeouts never hold a worker a live device needs:
//   - live: devices that answered last time. One attempt with a short timeout
//     (snmp.fast_timeout); silence hands the poll over to the suspect lane at once
//     instead of holding a live worker for timeout x (retries+1).
//   - suspect: devices that failed but are not DOWN yet (and devices known to answer
//     slowly): full timeout and retries, so down_after is confirmed quickly.
//   - dead: DOWN devices, one packet per poll, backing off.
const (
	laneLive = iota
	laneSuspect
	laneDead
	numLanes
)

// credGroup is the ordered credential list and location of a range (or static
// target), shared by every device found there.
type credGroup struct {
	creds    []*Credential
	wire     []*credWire // pre-encoded requests, nil for v3
	location observation.Location
	clinical bool // the range is marked clinical
}

// device is one SNMP agent the poller watches. Fields are guarded by Poller.mu except
// v3, which only the worker holding the device (out of the heap) touches. The struct
// is kept small: a collector tracks hundreds of thousands.
type device struct {
	addr  netip.AddrPort
	grp   *credGroup
	cred  uint8 // index in grp.creds of the credential that last worked: tried first
	lane  uint8
	conds condSet
	busy  bool // an inventory read is running
	slow  bool // answers only after snmp.fast_timeout: polled in the suspect lane

	state    observation.State // reachability: UP or DOWN
	reported observation.State // state last counted (UP, DEGRADED or DOWN)
	failures uint32
	upsLeft  int32 // UPS minutes remaining, -1 when unknown
	index    int32 // heap index, -1 while being polled

	next          int64 // unix nanoseconds
	lastOK        int64 // when it last answered a poll
	failingSince  int64 // when the first of the failed polls in a row gave up; 0 while it answers
	lastReported  int64
	nextInventory int64
	lastUpTime    time.Duration

	sys SystemInfo
	fp  *Fingerprint
	inv *devInventory
	v3  *v3State
}

// Poller polls known agents on a fixed interval, spread evenly, with bounded workers,
// and turns results into observations: on discovery, on change, and as refreshes.
type Poller struct {
	cfg      *Config
	ids      *observation.IDs
	emit     Emitter
	log      *slog.Logger
	metrics  *collectorMetrics
	profiles *Profiles
	now      func() time.Time

	mu      sync.Mutex
	devices map[netip.AddrPort]*device
	counts  map[observation.State]int
	lanes   [numLanes]lane
	groups  map[string]*credGroup
	fps     map[string]*Fingerprint // interned by sysObjectID + sysDescr
	topo    topology
	invq    chan *device
}

type lane struct {
	queue   deviceHeap
	wake    chan struct{}
	workers int
}

func newPoller(cfg *Config, ids *observation.IDs, emit Emitter, m *collectorMetrics, log *slog.Logger) *Poller {
	p := &Poller{
		cfg:     cfg,
		ids:     ids,
		emit:    emit,
		log:     log.With("component", "poller"),
		metrics: m,
		now:     time.Now,
		devices: map[netip.AddrPort]*device{},
		counts:  map[observation.State]int{observation.StateUp: 0, observation.StateDown: 0, observation.StateDegraded: 0},
		groups:  map[string]*credGroup{},
		fps:     map[string]*Fingerprint{},
		topo:    newTopology(),
		invq:    make(chan *device, 4096),
	}
	p.lanes[laneLive] = lane{wake: make(chan struct{}, 1), workers: cfg.SNMP.PollWorkers}
	p.lanes[laneSuspect] = lane{wake: make(chan struct{}, 1), workers: cfg.SNMP.FailingWorkers}
	p.lanes[laneDead] = lane{wake: make(chan struct{}, 1), workers: cfg.SNMP.FailingWorkers}
	return p
}

// SetProfiles sets the fingerprint profiles (before Run).
func (p *Poller) SetProfiles(ps *Profiles) { p.profiles = ps }

// Found is what a sweep (or a static target) learnt about a responding agent.
type Found struct {
	Target   Target
	Cred     *Credential
	Creds    []*Credential // the range's ordered list, for fallback
	Sys      SystemInfo
	Location observation.Location
	Clinical bool // found on a range marked clinical
}

// group interns the credential list and location of a range (p.mu held).
func (p *Poller) group(creds []*Credential, loc observation.Location, clinical bool) *credGroup {
	var sb strings.Builder
	for _, c := range creds {
		sb.WriteString(c.Name)
		sb.WriteByte(0)
	}
	fmt.Fprintf(&sb, "%+v%t", loc, clinical)
	k := sb.String()
	if g, ok := p.groups[k]; ok {
		return g
	}
	g := &credGroup{creds: creds, location: loc, clinical: clinical, wire: make([]*credWire, len(creds))}
	for i, c := range creds {
		g.wire[i] = newCredWire(c)
	}
	p.groups[k] = g
	return g
}

// fingerprint interns the profile match of a system group (p.mu held).
func (p *Poller) fingerprint(sys SystemInfo) *Fingerprint {
	k := sys.ObjectID + "\x00" + sys.Descr
	if fp, ok := p.fps[k]; ok {
		return fp
	}
	fp := p.profiles.Match(sys.ObjectID, sys.Descr)
	if len(p.fps) > 100_000 {
		clear(p.fps) // bounded: distinct descriptions are few in practice
	}
	p.fps[k] = &fp
	return &fp
}

// Add starts tracking an agent, or refreshes what is known of it. The first sighting
// is reported at once.
func (p *Poller) Add(f Found) {
	ap, err := f.Target.addrPort()
	if err != nil {
		p.log.Warn("ignoring found agent", "target", f.Target.String(), "err", err)
		return
	}
	creds := f.Creds
	if len(creds) == 0 {
		creds = []*Credential{f.Cred}
	}
	now := p.now()
	p.mu.Lock()
	grp := p.group(creds, f.Location, f.Clinical)
	idx := 0
	for i, c := range creds {
		if c == f.Cred {
			idx = i
		}
	}
	d, ok := p.devices[ap]
	if ok {
		d.grp, d.cred = grp, uint8(idx)
		p.mu.Unlock()
		return
	}
	d = &device{addr: ap, grp: grp, cred: uint8(idx), state: observation.StateUp, reported: observation.StateUp, index: -1, upsLeft: -1}
	d.sys = f.Sys
	d.fp = p.fingerprint(f.Sys)
	d.lastUpTime = f.Sys.UpTime
	d.lastReported = now.UnixNano()
	d.next = now.Add(p.offset(ap)).UnixNano()
	p.devices[ap] = d
	heap.Push(&p.lanes[laneLive].queue, d)
	p.counts[observation.StateUp]++
	p.metrics.setTracked(p.counts)
	obs := p.observation(d, observation.KindDiscovered, observation.SourceSNMPSweep, now)
	p.mu.Unlock()
	p.emit.Emit(obs)
	p.signal(laneLive)
}

// offset spreads first polls over the interval by a stable hash of the address, so a
// sweep that finds thousands of agents at once does not make them all due together.
func (p *Poller) offset(a netip.AddrPort) time.Duration {
	h := fnv.New64a()
	b, _ := a.MarshalBinary()
	h.Write(b)
	return time.Duration(h.Sum64() % uint64(p.cfg.SNMP.PollInterval))
}

func (p *Poller) signal(l int) {
	select {
	case p.lanes[l].wake <- struct{}{}:
	default:
	}
}

// Len returns the number of tracked devices.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.devices)
}

type pollJob struct {
	d   *device
	due int64
}

// Run schedules polls and inventory reads until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for l := range numLanes {
		work := make(chan pollJob)
		wg.Go(func() {
			defer close(work)
			p.schedule(ctx, l, work)
		})
		if l != laneLive {
			if err := p.runFailingLane(ctx, &wg, l, work); err != nil {
				cancel()
				return err
			}
			continue
		}
		for range p.lanes[l].workers {
			c, err := newAgentClient(p.sessionParams())
			if err != nil {
				cancel()
				return err
			}
			wg.Go(func() {
				defer c.Close()
				for j := range work {
					p.poll(ctx, c, j)
				}
			})
		}
	}
	for range p.cfg.SNMP.InventoryWorkers {
		wg.Go(func() { p.inventoryWorker(ctx) })
	}
	<-ctx.Done()
	return nil
}

// runFailingLane polls the devices of a failing lane (suspect or dead): each poll in
// its own goroutine, up to snmp.failing_workers at once, all over one shared socket.
// Such polls mostly wait out timeouts, so what bounds them is how many may wait at
// once, not CPU: when many devices fail together (a power cut, a switch), they are
// all confirmed DOWN within the same few seconds instead of queueing, and so is any
// other device that fails meanwhile. Healthy devices are never polled here.
func (p *Poller) runFailingLane(ctx context.Context, wg *sync.WaitGroup, l int, work <-chan pollJob) error {
	m, err := newUDPMux()
	if err != nil {
		return err
	}
	wg.Go(m.run)
	params := p.sessionParams()
	slots := make(chan struct{}, p.lanes[l].workers)
	wg.Go(func() {
		defer m.Close()
		var polls sync.WaitGroup
		defer polls.Wait()
		for j := range work {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				continue // schedule stops and closes work
			}
			polls.Go(func() {
				defer func() { <-slots }()
				p.poll(ctx, newMuxClient(m, params), j)
			})
		}
	})
	return nil
}

// schedule hands due devices of one lane to its workers, in due order.
func (p *Poller) schedule(ctx context.Context, l int, work chan<- pollJob) {
	ln := &p.lanes[l]
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var job pollJob
		wait := time.Hour
		if ln.queue.Len() > 0 {
			head := ln.queue[0]
			if d := time.Duration(head.next - p.now().UnixNano()); d <= 0 {
				job = pollJob{d: heap.Pop(&ln.queue).(*device), due: head.next}
			} else {
				wait = d
			}
		}
		p.mu.Unlock()

		if job.d != nil {
			select {
			case work <- job:
			case <-ctx.Done():
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ln.wake:
		case <-ctx.Done():
			return
		}
	}
}

// poll polls one device and records the outcome. The credential that worked last is
// tried first; the others only when the device has just started failing (a changed
// community looks like silence), not on every poll of a dead device.
func (p *Poller) poll(ctx context.Context, c *agentClient, j pollJob) {
	d := j.d
	start := p.now()
	p.metrics.pollStarted(time.Duration(start.UnixNano()-j.due), p.lateAfter())
	p.mu.Lock()
	grp, first, failures, down := d.grp, int(d.cred), d.failures, d.state == observation.StateDown
	ups := d.isUPS()
	fast := int(d.lane) == laneLive
	p.mu.Unlock()

	retries, timeout := p.cfg.SNMP.Retries, p.cfg.SNMP.Timeout
	switch {
	case down:
		retries = 0 // one packet per poll for a device already known dead
	case fast:
		retries, timeout = 0, p.cfg.SNMP.FastTimeout
	}
	var (
		res  pollResult
		err  error
		used = first
	)
	n := len(grp.creds)
	if failures > 0 || fast {
		n = 1
	}
	for i := range n {
		idx := first
		if i > 0 {
			idx = i - 1
			if idx >= first {
				idx = i
			}
		}
		cr := grp.creds[idx]
		var v3 *v3State
		if grp.wire[idx] == nil {
			if d.v3 == nil || idx != first {
				d.v3 = &v3State{}
			}
			v3 = d.v3
		}
		res, err = c.poll(ctx, d.addr, cr, grp.wire[idx], v3, ups, timeout, retries)
		if err == nil {
			used = idx
			break
		}
		if ctx.Err() != nil {
			return
		}
	}
	elapsed := p.now().Sub(start)
	p.metrics.pollDone(err == nil, elapsed)

	now := p.now()
	p.mu.Lock()
	if err != nil && d.failingSince == 0 {
		// From when the device was found silent, not from when that poll began: a
		// switch answer that came while the device's poll was still waiting does not
		// show the switch outlived the device.
		d.failingSince = now.UnixNano()
		p.confirmUpstream(d, now)
	}
	if err != nil && fast && timeout < p.cfg.SNMP.Timeout {
		// Hand over: the suspect lane polls again at once with the full timeout,
		// retries and credentials; nothing is counted as failed yet.
		d.lane = laneSuspect
		d.next = now.UnixNano()
		heap.Push(&p.lanes[laneSuspect].queue, d)
		p.mu.Unlock()
		p.signal(laneSuspect)
		return
	}
	if err == nil && !fast && d.failures == 0 && int(d.lane) == laneSuspect {
		d.slow = elapsed > p.cfg.SNMP.FastTimeout
	}
	d.cred = uint8(used)
	out := p.record(d, res, err, now)
	// Reschedule: on the interval; a device that just failed is confirmed sooner;
	// a dead one backs off.
	next := start.Add(p.cfg.SNMP.PollInterval)
	switch {
	case d.failures > 0 && d.state != observation.StateDown:
		next = now.Add(p.confirmDelay())
	case d.state == observation.StateDown:
		next = start.Add(p.backoff(d.failures))
	}
	if next.Before(now) {
		next = now
	}
	d.next = next.UnixNano()
	l := laneLive
	switch {
	case d.state == observation.StateDown:
		l = laneDead
	case d.failures > 0 || d.slow:
		l = laneSuspect
	}
	d.lane = uint8(l)
	heap.Push(&p.lanes[l].queue, d)
	p.metrics.setTracked(p.counts)
	wantInv := err == nil && !d.busy && now.UnixNano() >= d.nextInventory && p.cfg.SNMP.InventoryWorkers > 0
	if wantInv {
		select {
		case p.invq <- d:
			d.busy = true
		default: // inventory is saturated: try again at the next poll
		}
	}
	p.mu.Unlock()
	p.signal(l)
	for _, o := range out {
		p.emit.Emit(o)
	}
}

// confirmUpstream polls the switch a device is plugged into now rather than at its
// turn, when the device has just stopped answering and the switch has not answered
// since (p.mu held). By the time the device is confirmed DOWN, the collector then
// knows whether the switch is alive (the DOWN carries UpstreamAnsweredAt and the cmdb
// notifies at once) or failing too (its own confirmation has started early, and the
// cmdb correlates the device under it).
func (p *Poller) confirmUpstream(d *device, now time.Time) {
	if d.inv == nil {
		return
	}
	up := d.inv.upstream
	if up == nil || up == d || up.state != observation.StateUp || up.failures > 0 || up.lastOK >= d.failingSince {
		return
	}
	if up.index < 0 || int(up.lane) != laneLive || up.next <= now.UnixNano() {
		return // being polled, failing already, or due anyway
	}
	up.next = now.UnixNano()
	heap.Fix(&p.lanes[laneLive].queue, int(up.index))
	p.metrics.upstreamConfirm()
	p.signal(laneLive)
}

// upstreamAnswered is when d's switch last answered, if that was after d stopped
// answering and the switch is not failing (p.mu held).
func (p *Poller) upstreamAnswered(d *device) *time.Time {
	if d.inv == nil || d.inv.upstream == nil || d.failingSince == 0 {
		return nil
	}
	up := d.inv.upstream
	if up.state != observation.StateUp || up.failures > 0 || up.lastOK < d.failingSince {
		return nil
	}
	t := time.Unix(0, up.lastOK).UTC()
	return &t
}

// lateAfter is how late a poll may start before it counts as late.
func (p *Poller) lateAfter() time.Duration {
	return min(time.Second, p.cfg.SNMP.PollInterval/10)
}

// confirmDelay is when a device that failed once is polled again: sooner than the
// interval, so down_after consecutive failures take seconds, not intervals.
func (p *Poller) confirmDelay() time.Duration {
	return max(p.cfg.SNMP.PollInterval/4, p.cfg.SNMP.Timeout)
}

// backoff is the poll interval of a dead device: doubling up to snmp.max_backoff.
func (p *Poller) backoff(failures uint32) time.Duration {
	iv := p.cfg.SNMP.PollInterval
	maxB := p.cfg.SNMP.MaxBackoff
	if maxB < iv {
		return iv
	}
	k := int(failures) - p.cfg.SNMP.DownAfter
	for ; k > 0 && iv < maxB; k-- {
		iv *= 2
	}
	return min(iv, maxB)
}

func (p *Poller) sessionParams() SessionParams {
	return SessionParams{
		Timeout: p.cfg.SNMP.Timeout,
		Retries: p.cfg.SNMP.Retries,
		OnSent:  p.metrics.packetSent,
		OnRetry: p.metrics.packetRetried,
	}
}

// uptimeWrap is how close to 2^32 ticks sysUpTime must be for a decrease to be a
// counter wrap (497 days) rather than a reboot.
const uptimeWrap = time.Duration(1<<32-1)*10*time.Millisecond - 24*time.Hour

// record applies a poll result to the device (p.mu held) and returns what to report.
func (p *Poller) record(d *device, res pollResult, err error, now time.Time) []observation.Observation {
	var out []observation.Observation
	if err != nil {
		d.failures++
		if d.failures >= uint32(p.cfg.SNMP.DownAfter) && d.state != observation.StateDown {
			d.state = observation.StateDown
			p.log.Info("device down", "target", d.addr.String(), "name", d.sys.Name, "failures", d.failures, "err", err)
			p.setReported(d)
			o := p.observation(d, observation.KindChange, observation.SourceSNMPPoll, now)
			o.UpstreamAnsweredAt = p.upstreamAnswered(d)
			out = append(out, o)
			d.lastReported = now.UnixNano()
		}
	} else {
		sys := res.sys
		wasDown := d.state != observation.StateUp
		identityChanged := sys.Name != d.sys.Name || sys.Descr != d.sys.Descr || sys.ObjectID != d.sys.ObjectID || sys.Location != d.sys.Location
		rebooted := d.lastUpTime > 0 && sys.UpTime < d.lastUpTime && !wasDown && d.lastUpTime < uptimeWrap
		d.failures = 0
		d.failingSince = 0
		d.lastOK = now.UnixNano()
		if identityChanged {
			d.sys = sys
			d.fp = p.fingerprint(sys)
		}
		d.sys.UpTime = sys.UpTime
		d.lastUpTime = sys.UpTime
		d.state = observation.StateUp
		condsBefore := d.conds
		if res.ups.Known {
			d.conds = d.conds.with(condOnBattery, res.ups.OnBattery).with(condBatteryLow, res.ups.BatteryLow)
			if res.ups.MinutesPresent {
				d.upsLeft = int32(res.ups.MinutesLeft)
			}
		}
		p.setReported(d)
		if rebooted {
			ev := p.observation(d, observation.KindEvent, observation.SourceSNMPPoll, now)
			ev.Condition = observation.CondDeviceRebooted
			ev.Conditions = nil
			ev.Detail = "sysUpTime decreased"
			out = append(out, ev)
			// A reboot is the moment firmware changes: read inventory again soon.
			d.nextInventory = 0
		}
		if wasDown || identityChanged || condsBefore != d.conds {
			if wasDown {
				p.log.Info("device up", "target", d.addr.String(), "name", sys.Name)
			}
			out = append(out, p.observation(d, observation.KindChange, observation.SourceSNMPPoll, now))
			d.lastReported = now.UnixNano()
		}
	}
	if now.UnixNano()-d.lastReported >= int64(p.cfg.Refresh) {
		out = append(out, p.observation(d, observation.KindRefresh, observation.SourceSNMPPoll, now))
		d.lastReported = now.UnixNano()
	}
	return out
}

// setReported keeps the per-state counts as a device's reported state changes (p.mu held).
func (p *Poller) setReported(d *device) {
	s, _ := d.health()
	if d.reported == s {
		return
	}
	p.counts[d.reported]--
	p.counts[s]++
	d.reported = s
}

// isUPS reports whether the hot poll should read UPS-MIB status (p.mu held).
func (d *device) isUPS() bool {
	return (d.inv != nil && d.inv.ups) || (d.inv == nil && d.fp != nil && d.fp.Class == "UPS")
}

// lookup finds a tracked device up by address, for traps (nil when unknown).
func (p *Poller) lookup(a netip.Addr) *device {
	return p.devices[netip.AddrPortFrom(a, uint16(p.cfg.SNMP.Port))]
}

// deviceHeap orders devices by next poll time.
type deviceHeap []*device

func (h deviceHeap) Len() int           { return len(h) }
func (h deviceHeap) Less(i, j int) bool { return h[i].next < h[j].next }
func (h deviceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = int32(i)
	h[j].index = int32(j)
}
func (h *deviceHeap) Push(x any) {
	d := x.(*device)
	d.index = int32(len(*h))
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

// addrPort parses a target.
func (t Target) addrPort() (netip.AddrPort, error) {
	a, err := netip.ParseAddr(t.Host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %s: %w", t, err)
	}
	if !a.Is4() {
		return netip.AddrPort{}, errors.New("target " + t.String() + ": only IPv4 agents are polled")
	}
	return netip.AddrPortFrom(a, t.Port), nil
}
