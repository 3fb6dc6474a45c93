package incidents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// scaledClock runs time `scale` times faster than the wall clock: the worker's
// backoff and the receiver's two-minute outage are real logic on compressed time.
type scaledClock struct {
	base  time.Time
	start time.Time
	scale float64
}

func (c *scaledClock) Now() time.Time {
	return c.base.Add(time.Duration(float64(time.Since(c.start)) * c.scale))
}

func (c *scaledClock) After(d time.Duration) <-chan time.Time {
	return time.After(time.Duration(float64(d) / c.scale))
}

// TestWebhookDownForTwoMinutesGetsEverythingOnceInOrder: the service desk refuses
// everything for two minutes, then answers; one answer comes too late (after the
// sender's timeout) so that entry is sent twice. Every notification arrives, once by
// idempotency key, in order per incident and webhook, and the outbox ends empty.
func TestWebhookDownForTwoMinutesGetsEverythingOnceInOrder(t *testing.T) {
	onEachBackend(t, func(t *testing.T, st *incidents.Store, ob *incidents.Outbox) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clk := &scaledClock{base: time.Now(), start: time.Now(), scale: 200}
		desk := newReceiver(t)
		// Down from the start until two (compressed) minutes after the last write.
		var upAt atomic.Pointer[time.Time]
		desk.down = func() bool { t := upAt.Load(); return t == nil || clk.Now().Before(*t) }
		var slowOnce sync.Once
		desk.slow = func(string) time.Duration {
			d := time.Duration(0)
			slowOnce.Do(func() { d = 2500 * time.Millisecond })
			return d
		}
		p := incidents.DefaultPolicy()
		p.ReopenWindow = 0
		p.Webhooks = []incidents.Webhook{desk.webhook("generic", incidents.KindGeneric), desk.webhook("snow", incidents.KindServiceNow)}
		for i := range p.Webhooks {
			p.Webhooks[i].Timeout = 1500 * time.Millisecond // real time
		}
		metrics := incidents.NewMetrics(nil)
		notifier := incidents.NewNotifier(ob, p, incidents.NotifierOptions{Logger: testkit.Logger(), Clock: clk, Metrics: metrics})
		src := &fakeAssets{m: map[string]*assets.Asset{}}
		ec := newClock()
		e, err := incidents.NewEngine(ctx, st, src, incidents.EngineOptions{Policy: p, Logger: testkit.Logger(), Now: ec.Now, Sink: notifier})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); notifier.Run(ctx) }()

		// Four incidents, each opened, escalated twice and resolved: 16 notifications,
		// 32 deliveries over two webhooks, written while the desk is down.
		ids := map[string]bool{}
		for k := range 4 {
			a := asset(fmt.Sprintf("vent%d", k), assets.ClassVentilator, "ICU", "snmp.unreachable")
			src.set(a)
			if err := e.Reconcile(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		ec.Advance(6 * time.Minute)
		if err := e.CheckSLA(ctx); err != nil {
			t.Fatal(err)
		}
		ec.Advance(time.Hour)
		if err := e.CheckSLA(ctx); err != nil {
			t.Fatal(err)
		}
		list, _ := e.List(incidents.Filter{}, 0, 10)
		for _, i := range list {
			ids[i.ID] = true
			src.set(asset(i.AssetID, assets.ClassVentilator, "ICU"))
			if _, err := e.Resolve(ctx, i.ID, "user:desk", "fixed"); err != nil {
				t.Fatal(err)
			}
		}
		up := clk.Now().Add(2 * time.Minute)
		upAt.Store(&up)
		want := map[string]bool{}
		for id := range ids {
			for seq := 1; seq <= 4; seq++ {
				for _, w := range []string{"generic", "snow"} {
					want[fmt.Sprintf("%s.%04d.%s", id, seq, w)] = true
				}
			}
		}

		testkit.Eventually(t, 20*time.Second, func() error {
			if n := len(desk.accepted()); n != len(want) {
				return fmt.Errorf("%d of %d notifications accepted", n, len(want))
			}
			if n := notifier.Pending(); n != 0 {
				return fmt.Errorf("%d still pending", n)
			}
			return nil
		})
		got := desk.accepted()
		last := map[string]int{} // incident|webhook -> last seq
		for _, r := range got {
			if !want[r.key] {
				t.Errorf("unexpected key %s", r.key)
			}
			k := r.incident + "|" + r.key[strings.LastIndex(r.key, ".")+1:]
			if r.seq != last[k]+1 {
				t.Errorf("%s arrived after seq %d: out of order", r.key, last[k])
			}
			last[k] = r.seq
		}
		desk.mu.Lock()
		dup := 0
		for _, n := range desk.seen {
			if n > 1 {
				dup++
			}
		}
		reqs, bad := desk.reqs, desk.badSig
		desk.mu.Unlock()
		if dup != 1 {
			t.Errorf("%d keys delivered more than once, want exactly the one answered late", dup)
		}
		if bad != 0 {
			t.Errorf("%d requests with a bad signature", bad)
		}
		if reqs <= len(want)+1 {
			t.Errorf("%d requests: the outage was not retried through", reqs)
		}
		pending, err := ob.Pending(ctx)
		if err != nil || len(pending) != 0 {
			t.Fatalf("outbox after delivery: %d entries, %v", len(pending), err)
		}
		t.Logf("%d notifications delivered through a 2 min outage (compressed ×200) in %d requests", len(got), reqs)
		cancel()
		<-done
	})
}

// TestOutboxSurvivesRestart: entries written while no worker runs are delivered by
// the next worker to start.
func TestOutboxSurvivesRestart(t *testing.T) {
	onEachBackend(t, func(t *testing.T, st *incidents.Store, ob *incidents.Outbox) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		desk := newReceiver(t)
		p := incidents.DefaultPolicy()
		p.Webhooks = []incidents.Webhook{desk.webhook("jira", incidents.KindJira), desk.webhook("fresh", incidents.KindFreshservice)}
		first := incidents.NewNotifier(ob, p, incidents.NotifierOptions{Logger: testkit.Logger()})
		src := &fakeAssets{m: map[string]*assets.Asset{}}
		e, err := incidents.NewEngine(ctx, st, src, incidents.EngineOptions{Policy: p, Logger: testkit.Logger(), Sink: first})
		if err != nil {
			t.Fatal(err)
		}
		a := asset("pump", assets.ClassInfusionPump, "ICU", "hl7.heartbeat_lost")
		src.set(a)
		if err := e.Reconcile(ctx, a); err != nil {
			t.Fatal(err)
		}
		// The process "dies" before delivering; a new one starts on the same store.
		second := incidents.NewNotifier(ob, p, incidents.NotifierOptions{Logger: testkit.Logger()})
		go second.Run(ctx)
		testkit.Eventually(t, 10*time.Second, func() error {
			if n := len(desk.accepted()); n != 2 {
				return fmt.Errorf("%d delivered", n)
			}
			return nil
		})
		for _, r := range desk.accepted() {
			b, _ := json.Marshal(r.body)
			switch {
			case strings.HasSuffix(r.key, ".jira"):
				rfv, _ := r.body["requestFieldValues"].(map[string]any)
				if r.body["serviceDeskId"] != "4" || rfv == nil || !strings.HasPrefix(rfv["summary"].(string), "[P1] pump") {
					t.Errorf("jira body %s", b)
				}
			case strings.HasSuffix(r.key, ".fresh"):
				if r.body["email"] != "noc@example.org" || r.body["priority"] != float64(4) || r.body["status"] != float64(2) {
					t.Errorf("freshservice body %s", b)
				}
			default:
				t.Errorf("unexpected key %s", r.key)
			}
		}
	})
}
