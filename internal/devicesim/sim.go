package devicesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// Config configures the agents of a simulated hospital.
type Config struct {
	// Listen is the UDP address of the one socket every agent answers on: a wildcard
	// address (default "0.0.0.0:1161"; port 0 picks a free port) and the port the
	// collector polls.
	Listen string
	// AnyInterface lets the agents answer on every interface, not only loopback.
	AnyInterface bool
	// Communities are the v1/v2c communities accepted (default: public).
	Communities []string
	// Users are the v3 USM users accepted (default: DefaultUsers).
	Users []User
	// Traps are where notifications go.
	Traps []TrapTarget
	// MaxMessageSize bounds responses (default 8192; v3 requests may ask for less).
	MaxMessageSize int
	// Workers reading the socket (default GOMAXPROCS).
	Workers int
	Logger  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// DefaultUsers are the v3 users a simulator accepts unless told otherwise: one per
// common protocol pair, passphrases as printed (it is a simulator).
var DefaultUsers = []User{
	{Name: "biomed", AuthProtocol: "SHA", AuthPassphrase: "biomed-auth-pass", PrivProtocol: "AES", PrivPassphrase: "biomed-priv-pass"},
	{Name: "noc", AuthProtocol: "SHA256", AuthPassphrase: "noc-auth-passphrase", PrivProtocol: "AES256", PrivPassphrase: "noc-priv-passphrase"},
	{Name: "legacy", AuthProtocol: "MD5", AuthPassphrase: "legacy-auth-pass", PrivProtocol: "DES", PrivPassphrase: "legacy-priv-pass"},
	{Name: "cisco", AuthProtocol: "SHA", AuthPassphrase: "cisco-auth-pass", PrivProtocol: "AES256C", PrivPassphrase: "cisco-priv-pass"},
	{Name: "monitor", AuthProtocol: "SHA512", AuthPassphrase: "monitor-auth-pass"},
	{Name: "public-v3"},
}

// Sim runs the SNMP agents of a hospital on one UDP socket.
type Sim struct {
	h     *Hospital
	cfg   Config
	log   *slog.Logger
	conn  *net.UDPConn
	views *views
	comms map[string]bool
	users map[string]*usmUser
	now   func() time.Time
	salt  atomic.Uint64

	stats Stats

	trapMu  sync.Mutex
	trapEnc snmpber.Encoder
	trapOOB []byte

	hl7 atomic.Pointer[HL7] // the HL7 senders, once attached

	mu        sync.Mutex
	listeners []func(Applied)
	history   []Applied
	bg        sync.WaitGroup
}

// Stats counts what the agents did.
type Stats struct {
	Received     atomic.Uint64
	Answered     atomic.Uint64
	Dropped      atomic.Uint64 // unknown address, unreachable device, bad community, garbage
	Unreachable  atomic.Uint64 // part of Dropped: the device is down or cut off
	BadCommunity atomic.Uint64
	Malformed    atomic.Uint64
	Reports      atomic.Uint64 // v3 reports (discovery, time window, errors)
	TrapsSent    atomic.Uint64
	TrapErrors   atomic.Uint64
	usm          [6]atomic.Uint32 // usmStats counters, as reported
}

// New binds the socket and prepares every device's state. Addr is valid on return.
func New(h *Hospital, cfg Config) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:1161"
	}
	if cfg.Communities == nil {
		cfg.Communities = []string{"public"}
	}
	if cfg.Users == nil {
		cfg.Users = DefaultUsers
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = 8192
	}
	if cfg.MaxMessageSize < 484 || cfg.MaxMessageSize > 65507 {
		return nil, fmt.Errorf("max message size %d is outside 484..65507", cfg.MaxMessageSize)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sim{h: h, cfg: cfg, log: cfg.Logger.With("component", "devicesim"), now: cfg.Now,
		views: buildViews(cfg.MaxMessageSize), comms: map[string]bool{}, users: map[string]*usmUser{}}
	for _, c := range cfg.Communities {
		s.comms[c] = true
	}
	for _, u := range cfg.Users {
		uu, err := newUSMUser(u)
		if err != nil {
			return nil, err
		}
		s.users[u.Name] = uu
	}
	for _, t := range cfg.Traps {
		if err := t.validate(s.users); err != nil {
			return nil, err
		}
	}
	s.salt.Store(rand.Uint64())
	s.init()
	ap, err := netip.ParseAddrPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: want IP:port", cfg.Listen)
	}
	loopOnly := !cfg.AnyInterface && ap.Addr().IsUnspecified()
	if s.conn, err = listenUDP(context.Background(), cfg.Listen, loopOnly); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	_ = s.conn.SetReadBuffer(8 << 20)
	_ = s.conn.SetWriteBuffer(8 << 20)
	return s, nil
}

// init sets every device's clock and builds the switches' forwarding and LLDP rows.
func (s *Sim) init() {
	now := s.now().UnixNano()
	for _, d := range s.h.Devices {
		up := time.Duration(d.upDays)*24*time.Hour + time.Duration(d.Index%1440)*time.Minute
		d.st.bootAt.Store(now - int64(up))
		d.st.boots.Store(d.boots0)
		d.st.changedAt.Store(now - int64(up))
		if d.sw == nil {
			continue
		}
		var fdb []fdbEntry
		var lldp []uint16
		for i, p := range d.sw.ports {
			if p == nil {
				continue
			}
			port := uint16(i + 1)
			if p.Class == NetworkSwitch {
				// A neighbouring switch: its port MAC is learnt here.
				fdb = append(fdb, fdbEntry{mac: p.portMAC(peerPort(p, d)), port: port, dev: p})
			} else {
				fdb = append(fdb, fdbEntry{mac: p.MAC, port: port, dev: p})
			}
			if p.Class == NetworkSwitch || p.Model.LLDP {
				lldp = append(lldp, port)
			}
		}
		sort.Slice(fdb, func(i, j int) bool { return slices.Compare(fdb[i].mac[:], fdb[j].mac[:]) < 0 })
		d.sw.fdb, d.sw.lldp = fdb, lldp
	}
}

// Hospital returns the simulated layout.
func (s *Sim) Hospital() *Hospital { return s.h }

// Addr returns the bound socket address (the wildcard address and the port).
func (s *Sim) Addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Port returns the UDP port the agents answer on.
func (s *Sim) Port() int { return int(s.Addr().Port()) }

// AgentAddr returns where a device's agent answers.
func (s *Sim) AgentAddr(d *Device) netip.AddrPort { return netip.AddrPortFrom(d.IP(), s.Addr().Port()) }

// Stats returns the live counters.
func (s *Sim) Stats() *Stats { return &s.stats }

// Run answers requests until ctx ends, then closes the socket.
func (s *Sim) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() { newWorker(s).loop() })
	}
	s.log.Info("simulated agents listening", "devices", len(s.h.Devices), "addr", s.Addr().String(),
		"first", s.h.Devices[0].IP().String(), "last", s.h.Devices[len(s.h.Devices)-1].IP().String())
	<-ctx.Done()
	err := s.conn.Close()
	wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Close releases the socket of a simulator that was never Run.
func (s *Sim) Close() error { return s.conn.Close() }

// device finds the device answering on an address.
func (s *Sim) device(ip uint32) *Device {
	ds := s.h.Devices
	i := sort.Search(len(ds), func(i int) bool { return ds[i].ip >= ip })
	if i < len(ds) && ds[i].ip == ip {
		return ds[i]
	}
	return nil
}

// worker owns the buffers of one reading goroutine.
type worker struct {
	s      *Sim
	buf    []byte
	oob    []byte
	outOOB []byte
	dec    decoder
	msg    message
	out    snmpber.Encoder // the whole response
	vbs    snmpber.Encoder // varbind list contents
	scoped snmpber.Encoder // v3 scoped PDU before encryption
	mc     mctx
	st     status
	cur    [][]uint32 // GetBulk repeaters' positions
	next   []uint32
}

func newWorker(s *Sim) *worker {
	return &worker{s: s, buf: make([]byte, 65536), oob: make([]byte, oobSize),
		mc: mctx{buf: make([]uint32, 0, 32)}}
}

func (w *worker) loop() {
	s := w.s
	for {
		n, oobn, _, from, err := s.conn.ReadMsgUDPAddrPort(w.buf, w.oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("reading request", "err", err)
			continue
		}
		s.stats.Received.Add(1)
		dst, ok := pktDst(w.oob[:oobn])
		if !ok {
			s.stats.Dropped.Add(1)
			continue
		}
		d := s.device(dst)
		if d == nil {
			s.stats.Dropped.Add(1)
			continue
		}
		if !d.Reachable() {
			s.stats.Dropped.Add(1)
			s.stats.Unreachable.Add(1)
			continue
		}
		resp := w.handle(d, w.buf[:n])
		if resp == nil {
			s.stats.Dropped.Add(1)
			continue
		}
		w.outOOB = srcOOB(w.outOOB, d.ip)
		if _, _, err := s.conn.WriteMsgUDPAddrPort(resp, w.outOOB, from); err != nil {
			s.log.Debug("sending response", "device", d.Name, "to", from.String(), "err", err)
			continue
		}
		s.stats.Answered.Add(1)
	}
}
