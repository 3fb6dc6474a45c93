package mllp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo answers "ack:<message>", or "too-large:<head>" for oversized frames.
var echo = HandlerFunc(func(_ context.Context, req *Request) {
	if req.TooLarge {
		req.Reply([]byte("too-large:" + string(req.Message[:min(8, len(req.Message))])))
		return
	}
	req.Scratch = append(append(req.Scratch[:0], "ack:"...), req.Message...)
	req.Reply(req.Scratch)
})

func startServer(t *testing.T, cfg Config, h Handler) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := Listen(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop within 5s")
		}
	})
	return s
}

func dial(t *testing.T, s *Server) *Client {
	t.Helper()
	c, err := Dial(context.Background(), s.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServerManyPersistentConnections(t *testing.T) {
	s := startServer(t, Config{}, echo)
	const conns, msgs = 50, 40
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			c, err := Dial(context.Background(), s.Addr().String(), nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range msgs {
				msg := fmt.Sprintf("conn %d msg %d", i, j)
				ack, err := c.Send(context.Background(), []byte(msg))
				if err != nil {
					errs <- err
					return
				}
				if string(ack) != "ack:"+msg {
					errs <- fmt.Errorf("reply %q to %q", ack, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := s.Stats(); st.Frames != conns*msgs || st.Accepted != conns {
		t.Errorf("stats %+v, want %d frames on %d connections", st, conns*msgs, conns)
	}
}

func TestServerSplitWritesJunkAndPipelining(t *testing.T) {
	s := startServer(t, Config{}, echo)
	c := dial(t, s)
	raw := c.Conn()
	// One frame dribbled byte by byte with junk before it, then three pipelined in
	// one write, with junk between them.
	stream := "noise\r\n" + frame("slow")
	for i := range len(stream) {
		if _, err := raw.Write([]byte{stream[i]}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := raw.Write([]byte(frame("p1") + "\n" + frame("p2") + "zz" + frame("p3"))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ack:slow", "ack:p1", "ack:p2", "ack:p3"} {
		got, err := c.Read(context.Background())
		if err != nil || string(got) != want {
			t.Fatalf("reply %q, %v; want %q", got, err, want)
		}
	}
	if st := s.Stats(); st.JunkBytes != 7+1+2 {
		t.Errorf("junk bytes %d, want 10", st.JunkBytes)
	}
}

func TestServerOversizedFrameIsAnsweredAndConnectionSurvives(t *testing.T) {
	s := startServer(t, Config{MaxMessageBytes: 1000}, echo)
	c := dial(t, s)
	got, err := c.Send(context.Background(), []byte("MSH|"+strings.Repeat("x", 5000)))
	if err != nil || string(got) != "too-large:MSH|xxxx" {
		t.Fatalf("reply %q, %v; want a too-large answer", got, err)
	}
	got, err = c.Send(context.Background(), []byte("next"))
	if err != nil || string(got) != "ack:next" {
		t.Fatalf("after an oversized frame: %q, %v", got, err)
	}
	if s.Stats().Oversized != 1 {
		t.Errorf("oversized = %d", s.Stats().Oversized)
	}
}

func TestServerIdleTimeoutClosesConnection(t *testing.T) {
	s := startServer(t, Config{IdleTimeout: 200 * time.Millisecond}, echo)
	c := dial(t, s)
	if _, err := c.Send(context.Background(), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Conn().Read(make([]byte, 1))
	if err != io.EOF {
		t.Fatalf("idle connection read: %v, want EOF from the server closing it", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %s, idle timeout is 200ms", d)
	}
}

func TestServerMaxConns(t *testing.T) {
	s := startServer(t, Config{MaxConns: 2}, echo)
	a, b := dial(t, s), dial(t, s)
	for _, c := range []*Client{a, b} {
		if _, err := c.Send(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	third := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := third.Send(ctx, []byte("x")); err == nil {
		t.Fatal("a third connection was served with MaxConns 2")
	}
	if s.Stats().Rejected != 1 {
		t.Fatalf("rejected = %d, want 1", s.Stats().Rejected)
	}
}

func TestServerHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, Config{}, HandlerFunc(func(ctx context.Context, req *Request) {
		if string(req.Message) == "boom" {
			panic("test panic")
		}
		echo(ctx, req)
	}))
	bad, good := dial(t, s), dial(t, s)
	if _, err := bad.Send(context.Background(), []byte("boom")); err == nil {
		t.Fatal("a panicking handler answered")
	}
	if got, err := good.Send(context.Background(), []byte("fine")); err != nil || string(got) != "ack:fine" {
		t.Fatalf("other connection after a panic: %q, %v", got, err)
	}
}

func TestServerTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := startServer(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, echo)
	c, err := Dial(context.Background(), s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Send(context.Background(), []byte("over tls"))
	if err != nil || string(got) != "ack:over tls" {
		t.Fatalf("TLS reply %q, %v", got, err)
	}
	// A plain-text client gets no answer from a TLS listener.
	plain := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := plain.Send(ctx, []byte("clear")); err == nil {
		t.Fatal("plain MLLP answered by a TLS listener")
	}
}

func TestListenBadAddress(t *testing.T) {
	if _, err := Listen(Config{Addr: "256.0.0.1:1"}, echo); err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Fatalf("Listen on a bad address: %v (want an error naming it)", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mllp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
