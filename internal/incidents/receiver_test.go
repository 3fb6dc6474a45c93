package incidents_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

const testSecret = "0123456789abcdef-test-secret"

// received is one notification a receiver accepted.
type received struct {
	key      string
	event    string
	incident string
	seq      int
	note     incidents.Notification // generic kind only
	body     map[string]any
}

// receiver is a service desk on loopback: it checks signatures, refuses while down,
// and deduplicates by idempotency key as a real desk integration must.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	down   func() bool
	slow   func(key string) time.Duration // delay before answering, per first sight of a key
	got    []received                     // first acceptance per key, in order
	seen   map[string]int                 // key -> requests answered 2xx
	reqs   int
	badSig int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs++
	down := r.down != nil && r.down()
	r.mu.Unlock()
	if !incidents.VerifySignature(testSecret, req.Header.Get("X-Medcmdb-Timestamp"), body, req.Header.Get("X-Medcmdb-Signature")) {
		r.mu.Lock()
		r.badSig++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if down {
		http.Error(w, "service desk down", http.StatusServiceUnavailable)
		return
	}
	key := req.Header.Get("Idempotency-Key")
	rec := received{key: key, event: req.Header.Get("X-Medcmdb-Event")}
	_ = json.Unmarshal(body, &rec.body)
	var generic struct {
		Notification incidents.Notification `json:"notification"`
	}
	if json.Unmarshal(body, &generic) == nil && generic.Notification.ID != "" {
		rec.note = generic.Notification
	}
	// The key is "<incident>.<seq>.<webhook>", whatever the body's shape.
	if parts := strings.Split(key, "."); len(parts) == 3 {
		rec.incident = parts[0]
		rec.seq, _ = strconv.Atoi(parts[1])
	}
	r.mu.Lock()
	first := r.seen[key] == 0
	r.seen[key]++
	if first {
		r.got = append(r.got, rec)
	}
	var delay time.Duration
	if first && r.slow != nil {
		delay = r.slow(key)
	}
	r.mu.Unlock()
	// A desk that stored the ticket but answered too late: the sender retries, and
	// the idempotency key makes the retry harmless.
	time.Sleep(delay)
	w.WriteHeader(http.StatusCreated)
}

func (r *receiver) accepted() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) webhook(name, kind string) incidents.Webhook {
	return incidents.Webhook{Name: name, URL: r.srv.URL + "/" + name, Kind: kind, Secret: testSecret,
		Jira: incidents.JiraOptions{ServiceDeskID: "4", RequestTypeID: "17"}, Freshservice: incidents.FreshserviceOptions{RequesterEmail: "noc@example.org"}}
}
