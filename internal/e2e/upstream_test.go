package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestDeviceBehindALiveSwitchReachesServiceDesk is the 15-second goal of issue 7 for
// devices the cmdb knows to sit behind a switch (which it would otherwise hold for the
// correlation wait, in case the switch is failing too): simulated monitors on their
// unit's access switch, the collector binary (poll 5 s, down_after 2) and the cmdb
// binary with a webhook. The switches stay up, so the collector's DOWN says so and the
// incident is notified without the wait. Latency is logged (bench/incidents.md), not
// asserted; each failure must arrive exactly once, about the right device.
func TestDeviceBehindALiveSwitchReachesServiceDesk(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const secret = "e2e-webhook-secret-upstream-0123"
	type arrival struct {
		at   time.Time
		name string
	}
	var mu sync.Mutex
	var got []arrival
	keys := map[string]int{}
	desk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !incidents.VerifySignature(secret, r.Header.Get("X-Medcmdb-Timestamp"), body, r.Header.Get("X-Medcmdb-Signature")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var msg struct {
			Notification incidents.Notification `json:"notification"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		keys[r.Header.Get("Idempotency-Key")]++
		if msg.Notification.Event == incidents.NotifyOpened && keys[r.Header.Get("Idempotency-Key")] == 1 {
			got = append(got, arrival{time.Now(), msg.Notification.Asset.Name})
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer desk.Close()

	policy := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, policy, fmt.Sprintf("webhooks:\n  - {name: desk, kind: generic, url: %q, secret: %q}\n", desk.URL, secret))
	r := newOutageRig(t, 80, "--config", policy)
	r.poll = "5s"
	r.startCollector()
	r.waitAllUp(90 * time.Second)

	// Three monitors the cmdb knows the switch port of.
	var mons []*devicesim.Device
	testkit.Eventually(t, 60*time.Second, func() error {
		var out struct {
			Assets struct {
				Nodes []struct {
					Name     string
					Class    string
					Upstream []struct {
						Kind  string
						Asset struct{ Name string }
					}
				}
			}
		}
		if err := r.g.Try(`{ assets(first: 500) { nodes { name class upstream { kind asset { name } } } } }`, nil, &out); err != nil {
			return err
		}
		mons = nil
		for _, a := range out.Assets.Nodes {
			if a.Class != "PATIENT_MONITOR" || len(mons) == 3 {
				continue
			}
			for _, u := range a.Upstream {
				if u.Kind == "CONNECTED_TO" && u.Asset.Name != "" {
					mons = append(mons, r.h.Device(a.Name))
					break
				}
			}
		}
		if len(mons) < 3 {
			return fmt.Errorf("%d monitors with a known switch port", len(mons))
		}
		return nil
	})

	// Let the poll schedule settle, then fail the monitors at different phases of it.
	time.Sleep(6 * time.Second)
	killed := map[string]time.Time{}
	for i, d := range mons {
		if i > 0 {
			time.Sleep(1700 * time.Millisecond)
		}
		r.sim.SetDown(d, true)
		killed[d.Name] = time.Now()
	}
	testkit.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < len(mons) {
			return fmt.Errorf("%d of %d failures at the service desk", len(got), len(mons))
		}
		return nil
	})
	time.Sleep(2 * time.Second) // anything else that should not come
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(mons) {
		t.Errorf("%d notifications for %d failures: %+v", len(got), len(mons), got)
	}
	var lat []time.Duration
	for _, a := range got {
		k, ok := killed[a.name]
		if !ok {
			t.Errorf("notification about %q, which did not fail", a.name)
			continue
		}
		lat = append(lat, a.at.Sub(k))
	}
	for k, c := range keys {
		if c != 1 {
			t.Errorf("key %s delivered %d times", k, c)
		}
	}
	slices.Sort(lat)
	var s []string
	for _, l := range lat {
		s = append(s, l.Round(100*time.Millisecond).String())
	}
	t.Logf("monitor behind a live switch fails → incident at the webhook receiver (poll 5s, down_after 2): %s (goal < 15s)", strings.Join(s, ", "))
}
