package discovery

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp/mllptest"
)

// These tests dial from 127.117.1.0/24 so the listener sees distinct peers.

func TestHL7RejectLogIsRateLimited(t *testing.T) {
	e := startHL7(t, hl7Config(), nil)
	c := e.dial(t)
	for range 200 {
		if a := send(t, c, []byte("not hl7 at all")); a.Code != hl7.AR {
			t.Fatalf("ack %+v, want AR", a)
		}
	}
	// 200 rejects of one kind within the 10 s interval: one line now; the count comes
	// with the next line of that kind.
	if n := strings.Count(e.log.String(), "hl7 message rejected"); n != 1 {
		t.Fatalf("%d log lines for 200 rejected messages, want 1:\n%s", n, e.log.String())
	}
}

func TestHL7ValidSendersBecomeKnown(t *testing.T) {
	cfg := hl7Config()
	cfg.HL7.MaxConnections = 4
	cfg.HL7.KnownSenderConnections = 2
	e := startHL7(t, cfg, nil)
	addr := e.l.Addr().String()
	dial := func(from string) *mllp.Client {
		c, err := mllptest.ClientFrom(context.Background(), addr, from)
		if err != nil {
			t.Fatal(err)
		}
		c.Timeout = 5 * time.Second
		t.Cleanup(func() { c.Close() })
		return c
	}
	// A pump's heartbeat makes its address known; a sender of garbage stays unknown.
	pump := dial("127.117.1.1")
	send(t, pump, hl7test.Pump.Heartbeat("k1"))
	junk := dial("127.117.1.2")
	send(t, junk, []byte("garbage"))
	if n := e.l.Server().Stats().KnownPeers; n != 1 {
		t.Fatalf("%d known senders, want 1 (the pump)", n)
	}
	// The junk sender's address takes the second unreserved slot; a third stranger is
	// refused, the pump gets a reserved one.
	junk2 := dial("127.117.1.2")
	send(t, junk2, []byte("garbage"))
	stranger := dial("127.117.1.3")
	if _, err := stranger.Send(context.Background(), hl7test.Pump.Heartbeat("s1")); err == nil {
		t.Fatal("a stranger was served in a slot kept for known senders")
	}
	if a := send(t, dial("127.117.1.1"), hl7test.Pump.Heartbeat("k2")); a.Code != hl7.AA {
		t.Fatalf("known sender: ack %+v", a)
	}
	rr := httptest.NewRecorder()
	promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`medcmdb_hl7_connections_refused_total{reason="reserved_for_known"} 1`,
		`medcmdb_hl7_connections_refused_total{reason="per_peer"} 0`,
		`medcmdb_hl7_connections_refused_total{reason="max_connections"} 0`,
		`medcmdb_hl7_connections_closed_total{reason="partial_frame_budget"} 0`,
		`medcmdb_hl7_connections_closed_total{reason="frame_timeout"} 0`,
		`medcmdb_hl7_connections_closed_total{reason="idle"} 0`,
		`medcmdb_hl7_connections_closed_total{reason="evicted"} 0`,
		`medcmdb_hl7_partial_frame_bytes 0`,
		`medcmdb_hl7_partial_frame_budget_bytes 3.3554432e+07`,
		`medcmdb_hl7_known_senders 1`,
		`medcmdb_hl7_connections 4`, // pump, junk twice, pump again
	} {
		if !strings.Contains(rr.Body.String(), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(rr.Body.String())
	}
}

func TestHL7LimitsConfig(t *testing.T) {
	base := "site: s\ncmdb: {url: http://h/graphql, token: t}\nhl7:\n  listen: 127.0.0.1:2575\n"
	cfg, err := ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HL7
	if h.MaxConnectionsPerPeer != 100 || h.FrameTimeout != 30*time.Second || h.KnownSenderTTL != 24*time.Hour ||
		h.KnownSenderConnections != 0 || h.PartialFrameBudgetBytes != 0 {
		t.Fatalf("defaults %+v", h)
	}
	cases := []struct{ yaml, want string }{
		{"  max_connections_per_peer: 0", "hl7.max_connections_per_peer: 0 must be at least 1"},
		{"  known_sender_connections: 10000", "hl7.known_sender_connections: 10000 must be 0 (a tenth of max_connections) or below hl7.max_connections (10000)"},
		{"  known_sender_connections: -1", "hl7.known_sender_connections: -1"},
		{"  known_sender_ttl: 10s", "hl7.known_sender_ttl: 10s is below 1m"},
		{"  frame_timeout: 500ms", "hl7.frame_timeout: 500ms is outside 1s..hl7.idle_timeout (10m0s)"},
		{"  frame_timeout: 11m", "hl7.frame_timeout: 11m0s is outside"},
		{"  partial_frame_budget_bytes: 1048576", "hl7.partial_frame_budget_bytes: 1048576 is outside 1398101 (4/3 of hl7.max_message_bytes"},
		{"  partial_frame_budget_bytes: 1", "hl7.partial_frame_budget_bytes: 1 is outside"},
		{"  max_connection_per_peer: 3", "max_connection_per_peer"}, // a misspelt key is an error, not ignored
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(base + c.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to mention %q", c.yaml, err, c.want)
		}
	}
	ok := base + "  max_connections: 50\n  max_connections_per_peer: 5\n  known_sender_connections: 10\n" +
		"  known_sender_ttl: 1h\n  frame_timeout: 10s\n  partial_frame_budget_bytes: 8388608\n"
	if _, err := ParseConfig([]byte(ok)); err != nil {
		t.Fatalf("valid limits refused: %v", err)
	}
}
