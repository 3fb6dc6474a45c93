package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/snmpber"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// echoAgent answers every GetRequest with the same message as a GetResponse (its
// values stay NULL), after delay; replyFrom, when set, sends the answers from another
// socket, as a spoofer or a confused agent would.
func echoAgent(t *testing.T, delay time.Duration, replyFrom *net.UDPConn) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	out := c
	if replyFrom != nil {
		out = replyFrom
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pkt := append([]byte(nil), buf[:n]...)
			// The PDU follows the version and the community.
			_, body, _, err := snmpber.Read(pkt)
			if err != nil {
				continue
			}
			_, _, rest, _ := snmpber.Read(body)
			_, _, rest, _ = snmpber.Read(rest)
			i := len(pkt) - len(rest)
			if len(rest) == 0 || pkt[i] != snmpber.GetRequest {
				continue
			}
			pkt[i] = snmpber.GetResponse
			time.AfterFunc(delay, func() { _, _ = out.WriteToUDPAddrPort(pkt, from) })
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestUDPMuxManyWaitAtOnce: hundreds of exchanges with silent agents wait at the same
// time on one socket, and the answers of a live agent among them reach the exchange
// they belong to meanwhile.
func TestUDPMuxManyWaitAtOnce(t *testing.T) {
	m, err := newUDPMux()
	if err != nil {
		t.Fatal(err)
	}
	go m.run()
	defer m.Close()
	live := echoAgent(t, 5*time.Millisecond, nil)
	silent := netip.AddrPortFrom(live.Addr(), uint16(testkit.FreeUDPPort(t, "127.0.0.1")))
	tpl := newGetTemplate(snmpber.Version2c, "public", snmpber.GetRequest, systemOIDsB)
	var sent atomic.Int64
	params := SessionParams{OnSent: func() { sent.Add(1) }}

	const waiting = 300
	var wg sync.WaitGroup
	var timeouts atomic.Int64
	for range waiting {
		wg.Go(func() {
			_, err := m.exchange(context.Background(), silent, &tpl, 2*time.Second, 1, params)
			if errors.Is(err, errTimeout) {
				timeouts.Add(1)
			}
		})
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		if n := m.inFlight(); n < waiting {
			return fmt.Errorf("%d exchanges waiting", n)
		}
		return nil
	})
	for range 50 {
		c := newMuxClient(m, params)
		start := time.Now()
		r, err := c.exchange(context.Background(), live, &tpl, 2*time.Second, 1)
		if err != nil {
			t.Fatalf("live agent while %d exchanges wait: %v", m.inFlight(), err)
		}
		if r.pduType != snmpber.GetResponse || len(r.vars) != len(systemOIDsB) {
			t.Fatalf("answer %+v", r)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("live answer took %s", el)
		}
	}
	wg.Wait()
	if timeouts.Load() != waiting {
		t.Errorf("%d of %d silent exchanges timed out", timeouts.Load(), waiting)
	}
	if got := sent.Load(); got != 2*waiting+50 {
		t.Errorf("%d packets sent, want %d (one retry per silent exchange)", got, 2*waiting+50)
	}
	if n := m.inFlight(); n != 0 {
		t.Errorf("%d exchanges still registered", n)
	}
}

// TestUDPMuxMatchesSourceAndContext: an answer from another address than the one
// asked is not taken, and a cancelled context ends the wait at once.
func TestUDPMuxMatchesSourceAndContext(t *testing.T) {
	m, err := newUDPMux()
	if err != nil {
		t.Fatal(err)
	}
	go m.run()
	defer m.Close()
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	spoofed := echoAgent(t, 0, other)
	tpl := newGetTemplate(snmpber.Version1, "public", snmpber.GetRequest, systemOIDsB)
	if _, err := m.exchange(context.Background(), spoofed, &tpl, 200*time.Millisecond, 0, SessionParams{}); !errors.Is(err, errTimeout) {
		t.Fatalf("answer from the wrong source: %v, want a timeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := m.exchange(ctx, spoofed, &tpl, 10*time.Second, 0, SessionParams{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled exchange: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("cancelled exchange returned after %s", el)
	}
}
