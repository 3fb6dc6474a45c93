// Package mllptest drives an MLLP listener the way a hostile or broken network does,
// for tests and benchmarks: many connections from one address, each sending the start
// of a large frame and never its end, or nothing at all.
package mllptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
)

// Flood describes a flood of connections from one source address.
type Flood struct {
	// Addr is the listener's address.
	Addr string
	// From is the local IP address the connections come from (any of 127.0.0.0/8 on
	// Linux loopback).
	From string
	// Conns is the number of connections kept open at once.
	Conns int
	// FrameBytes is the size of the frame each connection starts and never ends;
	// 0 makes idle connections that send nothing.
	FrameBytes int
	// Redial, when positive, is how long a connection waits after the listener closed
	// it (or refused it) before dialling again; 0 dials once.
	Redial time.Duration
}

// Stats count what a flood did.
type Stats struct {
	Dials, DialErrors int64 // connections attempted, and failed to connect
	Closed            int64 // connections the listener closed (or reset)
	BytesSent         int64
}

// Flooder is a running flood.
type Flooder struct {
	dials, dialErrors, closed, sent atomic.Int64
	wg                              sync.WaitGroup
}

// Start starts f; it runs until ctx ends, then its connections are closed and Wait
// returns.
func Start(ctx context.Context, f Flood) *Flooder {
	fl := &Flooder{}
	var payload []byte
	if f.FrameBytes > 0 {
		// A frame that looks like the start of a message: a start block, a header,
		// then filler, and no end block ever.
		payload = bytes.Repeat([]byte("x"), f.FrameBytes)
		copy(payload, "\x0bMSH|^~\\&|FLOOD|X|||20260101||NMD^N02|f1|P|2.6\rNTE|1||")
	}
	for range f.Conns {
		fl.wg.Go(func() { fl.conn(ctx, f, payload) })
	}
	return fl
}

// Wait waits for every connection of the flood to end.
func (fl *Flooder) Wait() { fl.wg.Wait() }

// Stats returns the counts so far.
func (fl *Flooder) Stats() Stats {
	return Stats{Dials: fl.dials.Load(), DialErrors: fl.dialErrors.Load(), Closed: fl.closed.Load(), BytesSent: fl.sent.Load()}
}

func (fl *Flooder) conn(ctx context.Context, f Flood, payload []byte) {
	for ctx.Err() == nil {
		fl.dials.Add(1)
		c, err := DialFrom(ctx, f.Addr, f.From)
		if err != nil {
			fl.dialErrors.Add(1)
			if !sleep(ctx, max(f.Redial, 100*time.Millisecond)) {
				return
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		if closedByPeer := fl.hold(c, payload); closedByPeer {
			fl.closed.Add(1)
		}
		stop()
		c.Close()
		if f.Redial <= 0 {
			<-ctx.Done()
			return
		}
		if !sleep(ctx, f.Redial) {
			return
		}
	}
}

// hold writes payload in pieces, then waits until the connection ends; it reports
// whether the listener ended it.
func (fl *Flooder) hold(c net.Conn, payload []byte) bool {
	for len(payload) > 0 {
		n, err := c.Write(payload[:min(len(payload), 64<<10)])
		fl.sent.Add(int64(n))
		if err != nil {
			return !errors.Is(err, net.ErrClosed)
		}
		payload = payload[n:]
	}
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, net.ErrClosed) // net.ErrClosed: closed here, when the flood ends
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// DialFrom opens a TCP connection to addr from the local IP address from.
func DialFrom(ctx context.Context, addr, from string) (net.Conn, error) {
	ip := net.ParseIP(from)
	if ip == nil {
		return nil, fmt.Errorf("dial %s from %q: not an IP address", addr, from)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// ClientFrom is DialFrom wrapped in an mllp.Client.
func ClientFrom(ctx context.Context, addr, from string) (*mllp.Client, error) {
	c, err := DialFrom(ctx, addr, from)
	if err != nil {
		return nil, err
	}
	return mllp.NewClient(c), nil
}
