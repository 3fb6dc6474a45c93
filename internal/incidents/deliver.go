package incidents

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Clock is the time source of the delivery worker; tests inject one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NotifierOptions are the delivery worker's collaborators.
type NotifierOptions struct {
	Logger  *slog.Logger
	Metrics *Metrics
	Clock   Clock
	// Client sends the requests (default: a plain http.Client; timeouts are per
	// request from the webhook's configuration).
	Client *http.Client
	// Rescan is how often the outbox is read again for entries this process does not
	// know (written by a replica that stopped); default 1m.
	Rescan time.Duration
	// UserAgent identifies the sender.
	UserAgent string
}

// Notifier delivers the outbox to the webhooks: one entry at a time per incident and
// webhook, so each desk sees an incident's notifications in order; a failed attempt
// is retried with exponential backoff, for ever: an entry leaves the outbox only when
// the receiver accepted it.
type Notifier struct {
	outbox   *Outbox
	hooks    []*Webhook
	byName   map[string]*Webhook
	delivery Delivery
	log      *slog.Logger
	metrics  *Metrics
	clock    Clock
	client   *http.Client
	rescan   time.Duration
	agent    string

	mu     sync.Mutex
	queues map[string][]*OutboxEntry // webhook|incident -> entries in sequence order
	known  map[string]bool           // ids queued or in flight
	// done remembers recent deliveries, so that a rescan which read the outbox just
	// before an entry was removed does not send it again.
	done     map[string]time.Time
	inflight map[string]bool // queue keys with a delivery running
	busy     int
	wake     chan struct{}
}

// NewNotifier builds the delivery worker for the policy's webhooks.
func NewNotifier(ob *Outbox, p *Policy, o NotifierOptions) *Notifier {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Rescan <= 0 {
		o.Rescan = time.Minute
	}
	if o.UserAgent == "" {
		o.UserAgent = "medcmdb"
	}
	n := &Notifier{
		outbox: ob, delivery: p.Delivery, log: o.Logger.With("component", "notifier"), metrics: o.Metrics,
		clock: o.Clock, client: o.Client, rescan: o.Rescan, agent: o.UserAgent,
		byName: map[string]*Webhook{}, queues: map[string][]*OutboxEntry{}, known: map[string]bool{}, done: map[string]time.Time{},
		inflight: map[string]bool{}, wake: make(chan struct{}, 1),
	}
	for i := range p.Webhooks {
		w := &p.Webhooks[i]
		n.hooks = append(n.hooks, w)
		n.byName[w.Name] = w
		n.metrics.initWebhook(w.Name)
	}
	return n
}

// Write implements Sink: one outbox entry per webhook that takes the incident's
// priority, by _id, so writing the same notification twice changes nothing.
func (n *Notifier) Write(ctx context.Context, note *Notification) (int, error) {
	now := n.clock.Now()
	count := 0
	for _, w := range n.hooks {
		if !w.wants(note.Incident.Priority) {
			continue
		}
		e := &OutboxEntry{
			ID: note.ID + "." + w.Name, Webhook: w.Name, IncidentID: note.Incident.ID, Seq: note.Seq,
			Notification: *note, CreatedAt: now, NextAttempt: now,
		}
		fresh, err := n.outbox.Insert(ctx, e)
		if err != nil {
			return count, err
		}
		if fresh {
			n.enqueue(e)
		}
		count++
	}
	return count, nil
}

func queueKey(e *OutboxEntry) string { return e.Webhook + "|" + e.IncidentID }

func (n *Notifier) enqueue(e *OutboxEntry) {
	n.mu.Lock()
	if _, sent := n.done[e.ID]; !n.known[e.ID] && !sent {
		n.known[e.ID] = true
		k := queueKey(e)
		q := append(n.queues[k], e)
		// Entries arrive in order from one engine; a rescan may bring older ones.
		for i := len(q) - 1; i > 0 && q[i].Seq < q[i-1].Seq; i-- {
			if n.inflight[k] && i-1 == 0 {
				break // never reorder past the entry being delivered
			}
			q[i], q[i-1] = q[i-1], q[i]
		}
		n.queues[k] = q
		n.metrics.queue.WithLabelValues(e.Webhook).Inc()
	}
	n.mu.Unlock()
	n.kick()
}

func (n *Notifier) kick() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Pending returns how many entries wait for delivery.
func (n *Notifier) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.known)
}

// Run delivers until ctx ends; entries left in the outbox by an earlier run are
// delivered first.
func (n *Notifier) Run(ctx context.Context) error {
	n.load(ctx, false)
	var wg sync.WaitGroup
	defer wg.Wait()
	lastScan := n.clock.Now()
	for {
		now := n.clock.Now()
		if now.Sub(lastScan) >= n.rescan {
			n.load(ctx, true)
			lastScan = now
			n.mu.Lock()
			for id, at := range n.done {
				if now.Sub(at) > 3*n.rescan {
					delete(n.done, id)
				}
			}
			n.mu.Unlock()
		}
		next := lastScan.Add(n.rescan)
		n.mu.Lock()
		for k, q := range n.queues {
			if n.inflight[k] || len(q) == 0 {
				continue
			}
			head := q[0]
			if head.NextAttempt.After(now) {
				if head.NextAttempt.Before(next) {
					next = head.NextAttempt
				}
				continue
			}
			if n.busy >= n.delivery.Workers {
				continue
			}
			n.inflight[k] = true
			n.busy++
			wg.Go(func() { n.attempt(ctx, k, head) })
		}
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		case <-n.clock.After(next.Sub(now)):
		}
	}
}

// load enqueues the outbox entries this process does not know. On a rescan only
// entries older than the rescan interval are taken: younger ones are another
// replica's, still being delivered. Should both deliver one, the receiver's
// idempotency key makes it count once.
func (n *Notifier) load(ctx context.Context, rescan bool) {
	list, err := n.outbox.Pending(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("reading the outbox", "err", err)
		}
		return
	}
	now := n.clock.Now()
	for _, e := range list {
		if _, ok := n.byName[e.Webhook]; !ok {
			continue // a webhook removed from the configuration: kept, not sent
		}
		if rescan && now.Sub(e.CreatedAt) < n.rescan {
			continue
		}
		n.enqueue(e)
	}
}

// attempt delivers the head of one queue once.
func (n *Notifier) attempt(ctx context.Context, k string, e *OutboxEntry) {
	w := n.byName[e.Webhook]
	err := n.send(ctx, w, e)
	n.metrics.attempts.WithLabelValues(w.Name).Inc()
	now := n.clock.Now()
	if err == nil {
		if derr := n.outbox.Delivered(ctx, e.ID); derr != nil {
			// Delivered but still stored: a restart sends it again under the same
			// idempotency key, which the receiver ignores.
			n.log.Warn("removing delivered entry", "err", derr)
		}
		n.metrics.delivered.WithLabelValues(w.Name).Inc()
		n.metrics.latency.WithLabelValues(w.Name).Observe(now.Sub(e.CreatedAt).Seconds())
	} else {
		n.metrics.failures.WithLabelValues(w.Name).Inc()
		e.Attempts++
		e.NextAttempt = now.Add(n.backoff(e.Attempts))
		e.LastError = err.Error()
		level := slog.LevelWarn
		if e.Attempts > 1 {
			level = slog.LevelDebug // the first failure says it; the rest are retries
		}
		n.log.Log(ctx, level, "webhook delivery failed", "webhook", w.Name, "entry", e.ID, "attempt", e.Attempts,
			"retry_in", e.NextAttempt.Sub(now).Round(time.Millisecond), "err", err)
		if ferr := n.outbox.Failed(ctx, e); ferr != nil && ctx.Err() == nil {
			n.log.Warn("recording failed delivery", "err", ferr)
		}
	}
	n.mu.Lock()
	if err == nil {
		q := n.queues[k]
		if len(q) > 0 && q[0] == e {
			q = q[1:]
		}
		if len(q) == 0 {
			delete(n.queues, k)
		} else {
			n.queues[k] = q
		}
		delete(n.known, e.ID)
		n.done[e.ID] = now
		n.metrics.queue.WithLabelValues(w.Name).Dec()
	}
	delete(n.inflight, k)
	n.busy--
	n.mu.Unlock()
	n.kick()
}

// backoff is exponential from the initial delay, capped, with ±20 % jitter so that a
// desk coming back is not hit by every retry at once.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.delivery.InitialBackoff
	for i := 1; i < attempts && d < n.delivery.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, n.delivery.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// send makes one signed request.
func (n *Notifier) send(ctx context.Context, w *Webhook, e *OutboxEntry) error {
	body, err := Render(w, e)
	if err != nil {
		return err
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = n.delivery.Timeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.Name, err)
	}
	ts := strconv.FormatInt(n.clock.Now().Unix(), 10)
	for h, v := range w.Headers {
		req.Header.Set(h, v.Reveal())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", n.agent)
	req.Header.Set("Idempotency-Key", e.ID)
	req.Header.Set("X-Medcmdb-Event", e.Notification.Event)
	req.Header.Set("X-Medcmdb-Timestamp", ts)
	req.Header.Set("X-Medcmdb-Signature", Sign(w.Secret.Reveal(), ts, body))
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.Name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	// 409: the receiver already has this idempotency key.
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusConflict {
		return nil
	}
	return fmt.Errorf("webhook %s: HTTP %d: %s", w.Name, resp.StatusCode, bytes.TrimSpace(msg))
}
