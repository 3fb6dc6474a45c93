package mllp

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// Client is one MLLP connection to a receiver: send a message, read its
// acknowledgement. It is not safe for concurrent use; open one per sender.
//
//	c, err := mllp.Dial(ctx, "127.0.0.1:2575", nil)
//	ack, err := c.Send(ctx, []byte("MSH|^~\\&|...\r..."))
//	c.Close()
type Client struct {
	conn net.Conn
	r    *Reader
	wbuf []byte
	// Timeout bounds Send when ctx has no deadline (default 30s).
	Timeout time.Duration
}

// Dial connects to addr, over TLS when tlsConfig is not nil.
func Dial(ctx context.Context, addr string, tlsConfig *tls.Config) (*Client, error) {
	var d net.Dialer
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		conn, err = td.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("mllp dial %s: %w", addr, err)
	}
	return NewClient(conn), nil
}

// NewClient makes a Client of a connection already open (one dialled from a chosen
// source address, say).
func NewClient(conn net.Conn) *Client {
	return &Client{conn: conn, r: NewReader(conn, 16<<20, 0), Timeout: 30 * time.Second}
}

// Send writes msg as one frame and returns the next frame received, normally its
// acknowledgement. The returned slice is the caller's.
func (c *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	if err := c.Write(ctx, msg); err != nil {
		return nil, err
	}
	return c.Read(ctx)
}

// Write writes msg as one frame without waiting for an answer (pipelining).
func (c *Client) Write(ctx context.Context, msg []byte) error {
	if bytes.IndexByte(msg, EndBlock) >= 0 || bytes.IndexByte(msg, StartBlock) >= 0 {
		return fmt.Errorf("mllp send to %s: message contains a framing byte", c.conn.RemoteAddr())
	}
	c.conn.SetWriteDeadline(c.deadline(ctx))
	c.wbuf = AppendFrame(c.wbuf[:0], msg)
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return fmt.Errorf("mllp send to %s: %w", c.conn.RemoteAddr(), err)
	}
	return nil
}

// Read returns the next frame received. The returned slice is the caller's.
func (c *Client) Read(ctx context.Context) ([]byte, error) {
	c.conn.SetReadDeadline(c.deadline(ctx))
	f, err := c.r.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("mllp read from %s: %w", c.conn.RemoteAddr(), err)
	}
	return append([]byte(nil), f...), nil
}

func (c *Client) deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	t := c.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return time.Now().Add(t)
}

// Conn returns the underlying connection (to send raw bytes in tests).
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
