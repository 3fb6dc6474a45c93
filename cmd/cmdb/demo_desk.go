package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// demoDesk stands in for the service desk: a generic JSON webhook on loopback that
// checks each request's signature and prints one line per notification, so the demo
// shows what a service desk would receive, and what it would not (suppressed incidents).
type demoDesk struct {
	ln     net.Listener
	srv    *http.Server
	secret string
	out    io.Writer
	mu     sync.Mutex
}

func newDemoDesk(out io.Writer) (*demoDesk, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo service desk: %w", err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	d := &demoDesk{ln: ln, secret: hex.EncodeToString(b), out: out}
	d.srv = &http.Server{Handler: http.HandlerFunc(d.receive), ReadHeaderTimeout: 5 * time.Second}
	return d, nil
}

// webhook is the policy entry that sends every incident here.
func (d *demoDesk) webhook() incidents.Webhook {
	return incidents.Webhook{Name: "demo-service-desk", URL: "http://" + d.ln.Addr().String() + "/incidents",
		Kind: incidents.KindGeneric, Secret: incidents.Secret(d.secret)}
}

func (d *demoDesk) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if !incidents.VerifySignature(d.secret, r.Header.Get("X-Medcmdb-Timestamp"), body, r.Header.Get("X-Medcmdb-Signature")) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var msg struct {
		Notification incidents.Notification `json:"notification"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	n := msg.Notification
	line := fmt.Sprintf("service desk <- %s %-8s [%s] %s", n.Incident.Number, n.Event, n.Incident.Priority, n.Incident.Title)
	if i := n.Incident; i.SuppressedCount > 0 {
		// Devices and incidents apart: a device behind a failed switch may have two
		// incidents under it (SNMP and HL7).
		line += fmt.Sprintf(" (root cause: %d devices down behind it, %d incidents suppressed)", i.SuppressedDeviceCount, i.SuppressedCount)
	}
	d.mu.Lock()
	fmt.Fprintln(d.out, line)
	d.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Run serves until ctx ends.
func (d *demoDesk) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.srv.Shutdown(sctx)
	}()
	if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
