package discovery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// BenchmarkHL7Handle measures the listener's work per message without the network:
// parse, check, extract, track, acknowledge, count. Fifty devices take turns.
func BenchmarkHL7Handle(b *testing.B) {
	cfg := hl7Config()
	l, err := NewHL7Listener(cfg, &countEmitter{}, HL7Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.srv.Run(canceled())
	var msgs [][]byte
	for i := range 50 {
		d := hl7test.Pump
		d.EUI64 = fmt.Sprintf("0012A1FFFE%06X", i)
		msgs = append(msgs, d.PCD01(fmt.Sprintf("B%d", i)))
	}
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	req := mllp.NewRequest(nil, peer)
	b.ReportAllocs()
	b.SetBytes(int64(len(msgs[0])))
	for i := 0; b.Loop(); i++ {
		req.Message = msgs[i%len(msgs)]
		l.ServeMLLP(context.Background(), req)
		if len(req.Replies()) == 0 {
			b.Fatal("no acknowledgement")
		}
	}
}

type countEmitter struct{ n int }

func (c *countEmitter) Emit(observation.Observation) { c.n++ }

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
