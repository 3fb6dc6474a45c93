package discovery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// recorder is an Emitter keeping every observation.
type recorder struct {
	mu  sync.Mutex
	obs []observation.Observation
}

func (r *recorder) Emit(o observation.Observation) {
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

func (r *recorder) take() []observation.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.obs
	r.obs = nil
	return out
}

// wait returns the observations once at least n have arrived.
func (r *recorder) wait(t *testing.T, n int) []observation.Observation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := len(r.obs)
		r.mu.Unlock()
		if got >= n {
			return r.take()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d observations within 5s, want %d: %+v", len(r.obs), n, r.take())
	return nil
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

type hl7Env struct {
	l   *HL7Listener
	rec *recorder
	reg *prometheus.Registry
	log *bytes.Buffer
	cfg *Config
}

func hl7Config() *Config {
	cfg := DefaultConfig()
	cfg.Name, cfg.Site = "test-collector", "test-site"
	cfg.HL7.Listen = "127.0.0.1:0"
	cfg.HL7.HeartbeatTimeout = time.Minute
	return &cfg
}

// startHL7 runs a listener on loopback with a recording emitter and a debug logger
// writing to a buffer.
func startHL7(t *testing.T, cfg *Config, now func() time.Time) *hl7Env {
	t.Helper()
	var buf syncBuffer
	e := &hl7Env{rec: &recorder{}, reg: prometheus.NewRegistry(), log: &buf.b, cfg: cfg}
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := NewHL7Listener(cfg, e.rec, HL7Options{Logger: log, Registerer: e.reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.l = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (e *hl7Env) dial(t *testing.T) *mllp.Client {
	t.Helper()
	c, err := mllp.Dial(context.Background(), e.l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *mllp.Client, msg []byte) hl7.Ack {
	t.Helper()
	b, err := c.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := hl7.ReadAck(b)
	if err != nil {
		t.Fatalf("acknowledgement %q does not parse: %v", b, err)
	}
	return a
}

func TestHL7AcknowledgementModes(t *testing.T) {
	e := startHL7(t, hl7Config(), nil)
	c := e.dial(t)
	msh := func(typ, id, version, modes string) string {
		return fmt.Sprintf(`MSH|^~\&|DEV^0012A1FFFE00AAAA^EUI-64|F|CMDB|H|20240101||%s|%s|P|%s|||%s`, typ, id, version, modes)
	}
	good := func(id, modes string) []byte {
		return hl7test.Lines(msh("NMD^N02", id, "2.6", modes), `NCK|20240101`)
	}
	bad := func(id, modes string) []byte { // AE: an ORU without OBX
		return hl7test.Lines(msh("ORU^R01", id, "2.6", modes), `PID|||`+hl7test.MRN)
	}
	rejected := func(id, modes string) []byte { // AR: unsupported version
		return hl7test.Lines(msh("NMD^N02", id, "2.9", modes), `NCK|20240101`)
	}
	tests := []struct {
		name string
		msg  []byte
		want []string // acknowledgement codes in order; nil = no answer
		err  int
	}{
		{"original AA", good("o1", ""), []string{"AA"}, 0},
		{"original AE", bad("o2", ""), []string{"AE"}, hl7.ErrRequiredField},
		{"original AR", rejected("o3", ""), []string{"AR"}, hl7.ErrUnsupportedVersion},
		{"enhanced AL/NE accepted", good("e1", "AL|NE"), []string{"CA"}, 0},
		{"enhanced AL/NE error", bad("e2", "AL|NE"), []string{"CE"}, hl7.ErrRequiredField},
		{"enhanced AL/NE rejected", rejected("e3", "AL|NE"), []string{"CR"}, hl7.ErrUnsupportedVersion},
		{"enhanced ER/NE error", bad("e4", "ER|NE"), []string{"CE"}, hl7.ErrRequiredField},
		{"enhanced SU/NE accepted", good("e5", "SU|NE"), []string{"CA"}, 0},
		{"enhanced AL/AL: commit then application ack", good("e6", "AL|AL"), []string{"CA", "AA"}, 0},
		{"enhanced NE/ER error: application ack only", bad("e7", "NE|ER"), []string{"AE"}, hl7.ErrRequiredField},
		{"enhanced only MSH-16 set: commit ack by default", good("e8", "|SU"), []string{"CA", "AA"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Write(context.Background(), tc.msg); err != nil {
				t.Fatal(err)
			}
			m, _ := hl7.Parse(tc.msg)
			wantID := m.Segment(0).Field(10).String()
			for _, code := range tc.want {
				b, err := c.Read(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				a, err := hl7.ReadAck(b)
				if err != nil {
					t.Fatal(err)
				}
				if a.Code != code || a.ControlID != wantID {
					t.Fatalf("ack %s for %s, want %s for %s:\n%q", a.Code, a.ControlID, code, wantID, b)
				}
				if a.Type != "ACK^N02" && a.Type != "ACK^R01" {
					t.Errorf("MSH-9 %q, want ACK^<trigger>", a.Type)
				}
				if code != "AA" && code != "CA" && a.ErrorCode != tc.err {
					t.Errorf("error code %d, want %d (reason %q)", a.ErrorCode, tc.err, a.Reason)
				}
				ack, _ := hl7.Parse(b)
				msh := ack.Segment(0)
				if got := msh.Field(5).Comp(1).String() + "|" + msh.Field(3).String() + "|" + msh.Field(12).String(); got != "DEV|CMDB|"+m.Segment(0).Field(12).String() {
					t.Errorf("sender/receiver not swapped or version changed: %q", got)
				}
			}
		})
	}
	// The enhanced NE/NE sender asked for nothing: the next answer is for the next message.
	if err := c.Write(context.Background(), good("n1", "NE|NE")); err != nil {
		t.Fatal(err)
	}
	if a := send(t, c, good("n2", "")); a.ControlID != "n2" {
		t.Fatalf("after an NE/NE message, ack for %q, want n2", a.ControlID)
	}
}

func TestHL7ErrorPaths(t *testing.T) {
	cfg := hl7Config()
	cfg.HL7.MaxMessageBytes = 2048
	e := startHL7(t, cfg, nil)
	c := e.dial(t)
	pump := hl7test.Pump
	tests := []struct {
		name   string
		msg    []byte
		code   int
		ctrlID string
		reason string
	}{
		{"not HL7 at all", []byte("GET / HTTP/1.1\r\nHost: x\r\n"), hl7.ErrSegmentSequence, "", "MSH"},
		{"bad segment after a good header", append(pump.Heartbeat("h-bad"), []byte("pid|"+hl7test.MRN+"\r")...),
			hl7.ErrSegmentSequence, "h-bad", "segment 4"},
		{"missing control id", hl7test.Lines(`MSH|^~\&|A|B|C|D|2024||NMD^N02||P|2.5`), hl7.ErrRequiredField, "", "MSH-10"},
		{"unsupported processing id", hl7test.Lines(`MSH|^~\&|A|B|C|D|2024||NMD^N02|p1|Q|2.5`), hl7.ErrUnsupportedProcID, "p1", "processing"},
		{"too large", append(pump.PCD01("big-1"), bytes.Repeat([]byte("NTE|1||xxxxxxxxxx\r"), 200)...),
			hl7.ErrInternal, "big-1", "exceeds 2048 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := send(t, c, tc.msg)
			want := hl7.AR
			if tc.ctrlID == "big-1" { // the pump asks for enhanced mode (MSH-15 AL)
				want = hl7.CR
			}
			if a.Code != want || a.ErrorCode != tc.code || a.ControlID != tc.ctrlID || !strings.Contains(a.Reason, tc.reason) {
				t.Fatalf("ack %+v, want %s %d for %q mentioning %q", a, want, tc.code, tc.ctrlID, tc.reason)
			}
		})
	}
	// Junk between frames and a frame split over many writes are still answered.
	raw := c.Conn()
	frame := mllp.AppendFrame([]byte("\r\n\x00garbage"), pump.Heartbeat("split-1"))
	for i := 0; i < len(frame); i += 7 {
		raw.Write(frame[i:min(i+7, len(frame))])
		time.Sleep(time.Millisecond)
	}
	b, err := c.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := hl7.ReadAck(b); a.Code != hl7.AA || a.ControlID != "split-1" {
		t.Fatalf("split frame ack %+v", a)
	}
	// The connection is still usable after all of that.
	if a := send(t, c, pump.Heartbeat("after")); a.Code != hl7.AA {
		t.Fatalf("ack %+v", a)
	}
	for _, m := range []struct {
		typ, ack string
		want     float64
	}{{"invalid", "AR", 1}, {"NMD^N02", "AR", 3}, {"ORU^R01", "CR", 1}, {"NMD^N02", "AA", 2}} {
		if got := testutil.ToFloat64(e.l.metrics.vec.WithLabelValues(m.typ, m.ack)); got != m.want {
			t.Errorf("messages{type=%q,ack=%q} = %v, want %v", m.typ, m.ack, got, m.want)
		}
	}
}

func TestHL7MetricsBoundedLabels(t *testing.T) {
	e := startHL7(t, hl7Config(), nil)
	c := e.dial(t)
	pump := hl7test.Pump
	send(t, c, pump.PCD01("m1"))
	send(t, c, pump.PCD04("m2", "196940^MDC_EVT_FLUID_LINE_OCCL", "start", "ST"))
	send(t, c, pump.Heartbeat("m3"))
	for i := range 20 {
		send(t, c, hl7test.Lines(fmt.Sprintf(`MSH|^~\&|A|B|C|D|2024||Z%02d^Q%02d|x%d|P|2.5`, i, i, i)))
	}
	send(t, c, []byte("garbage"))
	want := map[[2]string]float64{
		{"ORU^R01", "CA"}: 1, {"ORU^R40", "CA"}: 1, {"NMD^N02", "AA"}: 1, {"other", "AA"}: 20, {"invalid", "AR"}: 1,
	}
	n, err := testutil.GatherAndCount(e.reg, "medcmdb_hl7_messages_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(hl7TypeLabels)*len(hl7AckLabels) {
		t.Fatalf("%d series, want the %d initialised up front and no more", n, len(hl7TypeLabels)*len(hl7AckLabels))
	}
	for _, typ := range hl7TypeLabels {
		for _, ack := range hl7AckLabels {
			got := testutil.ToFloat64(e.l.metrics.vec.WithLabelValues(typ, ack))
			if got != want[[2]string{typ, ack}] {
				t.Errorf("messages{type=%q,ack=%q} = %v, want %v", typ, ack, got, want[[2]string{typ, ack}])
			}
		}
	}
}

// captureSender records every batch sent to the cmdb.
type captureSender struct {
	mu  sync.Mutex
	obs []observation.Observation
}

func (s *captureSender) Send(_ context.Context, b []observation.Observation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obs = append(s.obs, b...)
	return nil
}

func (s *captureSender) all() []observation.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]observation.Observation(nil), s.obs...)
}

func mllpDial(addr string) (*mllp.Client, error) { return mllp.Dial(context.Background(), addr, nil) }
