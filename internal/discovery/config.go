package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/secret"
	"github.com/medcmdb/medcmdb/internal/yamlstrict"
)

// Secret is a configuration secret that prints as <secret> (see internal/secret).
type Secret = secret.Secret

// Config is the collector configuration file.
type Config struct {
	// Name identifies this collector to the cmdb; defaults to the host name.
	Name     string     `yaml:"name"`
	Site     string     `yaml:"site"`
	CMDB     CMDBConfig `yaml:"cmdb"`
	SpoolDir string     `yaml:"spool_dir"`
	// SpoolMaxMB bounds the spool on disk; past it the oldest refreshes go first.
	SpoolMaxMB int        `yaml:"spool_max_mb"`
	SNMP       SNMPConfig `yaml:"snmp"`
	Traps      TrapConfig `yaml:"traps"`
	HL7        HL7Config  `yaml:"hl7"`
	// Refresh is how often an unchanged device is re-reported so the cmdb keeps it known.
	Refresh time.Duration `yaml:"refresh_interval"`
	Metrics MetricsConfig `yaml:"metrics"`
}

// MetricsConfig tunes the collector's own metrics.
type MetricsConfig struct {
	// DeviceSeriesLimit caps medcmdb_device_up series (one per device).
	DeviceSeriesLimit int `yaml:"device_series_limit"`
}

// CMDBConfig says where observations go.
type CMDBConfig struct {
	URL   string `yaml:"url"`
	Token Secret `yaml:"token"`
	// CAFile verifies the cmdb's TLS certificate when the URL is https.
	CAFile string `yaml:"ca_file"`
	// BatchSize and FlushInterval bound how long an observation waits to be sent.
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	Timeout       time.Duration `yaml:"timeout"`
}

// SNMPConfig is the SNMP part of the collector configuration.
type SNMPConfig struct {
	Port              int           `yaml:"port"`
	Timeout           time.Duration `yaml:"timeout"`
	Retries           int           `yaml:"retries"`
	PollInterval      time.Duration `yaml:"poll_interval"`
	DownAfter         int           `yaml:"down_after"`
	DiscoverySchedule string        `yaml:"discovery_schedule"`
	SweepWorkers      int           `yaml:"sweep_workers"`
	PollWorkers       int           `yaml:"poll_workers"`
	// FailingWorkers bounds the polls of devices whose last poll failed, apart from
	// the live ones: this many may wait for an answer at once for suspect devices,
	// and as many again for DOWN ones. They share one socket per lane, so a waiting
	// poll costs a goroutine (and, for SNMPv3, a gosnmp session's socket).
	FailingWorkers int `yaml:"failing_workers"`
	// FastTimeout is how long a healthy device gets before its poll is handed to the
	// suspect lane (default min(timeout, 250ms)).
	FastTimeout time.Duration `yaml:"fast_timeout"`
	// SweepRate bounds discovery probes per second (a sweep must not flood a network).
	SweepRate int `yaml:"sweep_rate"`
	// InventoryInterval is how often ENTITY/IF/UPS-MIB and topology tables are read.
	InventoryInterval time.Duration `yaml:"inventory_interval"`
	InventoryWorkers  int           `yaml:"inventory_workers"`
	// MaxBackoff caps how far apart polls of a DOWN device get (default 4x poll_interval).
	MaxBackoff  time.Duration   `yaml:"max_backoff"`
	Credentials []Credential    `yaml:"credentials"`
	Ranges      []Range         `yaml:"ranges"`
	Targets     []StaticTarget  `yaml:"targets"`
	Profiles    ProfileSettings `yaml:"profiles"`
}

// ProfileSettings points at user fingerprint profiles added to the shipped ones.
type ProfileSettings struct {
	Dir string `yaml:"dir"`
}

// Credential is one way to talk to an agent. Secrets are Secret so they never print.
type Credential struct {
	Name           string `yaml:"name"`
	Version        string `yaml:"version"` // 1, 2c, 3
	Community      Secret `yaml:"community"`
	Username       string `yaml:"username"`
	AuthProtocol   string `yaml:"auth_protocol"`
	AuthPassphrase Secret `yaml:"auth_passphrase"`
	PrivProtocol   string `yaml:"priv_protocol"`
	PrivPassphrase Secret `yaml:"priv_passphrase"`
	ContextName    string `yaml:"context_name"`
}

// Range is an address range to sweep, with the credentials to try in order and the
// location every device found there gets unless it says better.
type Range struct {
	CIDR        string               `yaml:"cidr"`
	Credentials []string             `yaml:"credentials"`
	Location    observation.Location `yaml:"location"`
	// Clinical marks a range where unknown devices are a security concern.
	Clinical bool `yaml:"clinical"`

	prefix netip.Prefix
}

// Prefix returns the parsed CIDR (valid after Load/Validate).
func (r Range) Prefix() netip.Prefix { return r.prefix }

// StaticTarget is a single agent to poll without sweeping, e.g. on a non-standard port.
type StaticTarget struct {
	Address     string               `yaml:"address"` // host or host:port
	Credentials []string             `yaml:"credentials"`
	Location    observation.Location `yaml:"location"`
}

// TrapConfig is the SNMP trap listener.
type TrapConfig struct {
	Listen string `yaml:"listen"`
	// Credentials names the snmp.credentials accepted on traps: communities for
	// v1/v2c, USM users for v3. Empty means all of them.
	Credentials []string `yaml:"credentials"`
	// ReadBuffer is the socket receive buffer in bytes; bursts wait there.
	ReadBuffer int `yaml:"read_buffer"`
	// QueueSize bounds traps read but not yet decoded.
	QueueSize int `yaml:"queue_size"`
	// AcceptFrom, PerSourceRate, PerSourceBurst, MaxSources: who may send traps, and
	// how many (trapguard.go).
	AcceptFrom     []string `yaml:"accept_from"`
	PerSourceRate  float64  `yaml:"per_source_rate"`
	PerSourceBurst int      `yaml:"per_source_burst"`
	MaxSources     int      `yaml:"max_sources"`
}

// HL7Config is the MLLP listener.
type HL7Config struct {
	Listen           string        `yaml:"listen"`
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	TLSCert          string        `yaml:"tls_cert"`
	TLSKey           string        `yaml:"tls_key"`
	MaxMessageBytes  int           `yaml:"max_message_bytes"`
	IdleTimeout      time.Duration `yaml:"idle_timeout"`
	// ClassTimeouts overrides heartbeat_timeout per device class (VENTILATOR: 30s).
	ClassTimeouts map[string]time.Duration `yaml:"class_heartbeat_timeouts"`
	// LearnHeartbeat sets the timeout of a sender whose class has none configured to
	// three times its observed message interval (at least 5s).
	LearnHeartbeat bool `yaml:"learn_heartbeat"`
	// MaxConnections bounds concurrent MLLP connections.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerPeer bounds concurrent connections from one IP address.
	MaxConnectionsPerPeer int `yaml:"max_connections_per_peer"`
	// KnownSenderConnections of max_connections are kept for known senders, addresses
	// that sent a valid message within known_sender_ttl (0: a tenth of max_connections).
	KnownSenderConnections int           `yaml:"known_sender_connections"`
	KnownSenderTTL         time.Duration `yaml:"known_sender_ttl"`
	// FrameTimeout bounds the time from a frame's start block to its end block.
	FrameTimeout time.Duration `yaml:"frame_timeout"`
	// PartialFrameBudgetBytes bounds the memory all connections together hold in
	// frames still arriving (0: 32 MiB, or twice max_message_bytes if larger); a
	// quarter of it is kept for known senders.
	PartialFrameBudgetBytes int64 `yaml:"partial_frame_budget_bytes"`
}

// DefaultConfig returns the configuration a file is decoded over.
func DefaultConfig() Config {
	return Config{
		Refresh:    60 * time.Second,
		SpoolMaxMB: 512,
		Metrics:    MetricsConfig{DeviceSeriesLimit: 20000},
		CMDB: CMDBConfig{
			BatchSize:     500,
			FlushInterval: 500 * time.Millisecond,
			Timeout:       10 * time.Second,
		},
		SNMP: SNMPConfig{
			Port:              161,
			Timeout:           time.Second,
			Retries:           1,
			PollInterval:      30 * time.Second,
			DownAfter:         3,
			DiscoverySchedule: "@every 1h",
			SweepWorkers:      64,
			PollWorkers:       64,
			FailingWorkers:    2048,
			SweepRate:         5000,
			InventoryInterval: time.Hour,
			InventoryWorkers:  8,
		},
		Traps: defaultTrapConfig(),
		HL7: HL7Config{
			HeartbeatTimeout: 3 * time.Minute,
			MaxMessageBytes:  1 << 20,
			IdleTimeout:      10 * time.Minute,
			MaxConnections:   10000,

			MaxConnectionsPerPeer: 100,
			KnownSenderTTL:        24 * time.Hour,
			FrameTimeout:          30 * time.Second,
		},
	}
}

// LoadConfig reads, expands, strictly decodes and validates a collector config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes and validates configuration bytes. Unknown keys are errors.
func ParseConfig(data []byte) (*Config, error) { return ParseConfigWith(data, nil) }

// ParseConfigWith is ParseConfig with overrides (command-line flags) applied between
// decoding and validation.
func ParseConfigWith(data []byte, override func(*Config)) (*Config, error) {
	cfg := DefaultConfig()
	// DecodeEnv's errors quote the file as written, never a secret from it or from
	// the environment.
	missing, err := yamlstrict.DecodeEnv(data, &cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = host
	}
	if override != nil {
		override(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		if len(missing) > 0 {
			err = fmt.Errorf("%w (environment variables not set: %s)", err, strings.Join(missing, ", "))
		}
		return nil, err
	}
	return &cfg, nil
}

// Validate checks cross-field rules and parses derived values.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		add("name: must not be empty")
	}
	if c.Site == "" {
		add("site: is required")
	}
	if c.CMDB.URL == "" {
		add("cmdb.url: is required")
	} else if u, err := url.Parse(c.CMDB.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("cmdb.url: %q is not an http(s) URL", c.CMDB.URL)
	}
	if c.CMDB.Token == "" {
		add("cmdb.token: is required")
	}
	if c.CMDB.BatchSize < 1 || c.CMDB.BatchSize > 5000 {
		add("cmdb.batch_size: %d is outside 1..5000", c.CMDB.BatchSize)
	}
	if c.CMDB.FlushInterval <= 0 {
		add("cmdb.flush_interval: must be positive")
	}
	if c.Metrics.DeviceSeriesLimit < 0 {
		add("metrics.device_series_limit: must not be negative")
	}
	if c.SpoolMaxMB < 1 {
		add("spool_max_mb: %d must be at least 1", c.SpoolMaxMB)
	}
	if c.Refresh < time.Second {
		add("refresh_interval: %s is below 1s", c.Refresh)
	}
	s := &c.SNMP
	if s.Port < 1 || s.Port > 65535 {
		add("snmp.port: %d is not a port", s.Port)
	}
	if s.Timeout < 10*time.Millisecond {
		add("snmp.timeout: %s is below 10ms", s.Timeout)
	}
	if s.Retries < 0 || s.Retries > 10 {
		add("snmp.retries: %d is outside 0..10", s.Retries)
	}
	if s.PollInterval < 100*time.Millisecond {
		add("snmp.poll_interval: %s is below 100ms", s.PollInterval)
	}
	if s.DownAfter < 1 {
		add("snmp.down_after: %d must be at least 1", s.DownAfter)
	}
	if s.SweepWorkers < 1 || s.PollWorkers < 1 || s.FailingWorkers < 1 {
		add("snmp.sweep_workers, snmp.poll_workers and snmp.failing_workers must be at least 1")
	}
	if s.InventoryWorkers < 0 {
		add("snmp.inventory_workers: %d is negative", s.InventoryWorkers)
	}
	if s.SweepRate < 1 {
		add("snmp.sweep_rate: %d must be at least 1 probe per second", s.SweepRate)
	}
	if s.InventoryInterval < time.Second {
		add("snmp.inventory_interval: %s is below 1s", s.InventoryInterval)
	}
	if s.FastTimeout == 0 {
		s.FastTimeout = min(s.Timeout, 250*time.Millisecond)
	}
	if s.FastTimeout > s.Timeout || s.FastTimeout < time.Millisecond {
		add("snmp.fast_timeout: %s must be between 1ms and snmp.timeout", s.FastTimeout)
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 4 * s.PollInterval
	}
	if s.MaxBackoff < s.PollInterval {
		add("snmp.max_backoff: %s is below poll_interval", s.MaxBackoff)
	}
	if s.Profiles.Dir != "" {
		if _, err := LoadProfiles(s.Profiles.Dir); err != nil {
			add("snmp.profiles.dir: %v", err)
		}
	}
	if _, err := cron.ParseStandard(s.DiscoverySchedule); err != nil {
		add("snmp.discovery_schedule: %q: %v", s.DiscoverySchedule, err)
	}
	names := map[string]bool{}
	for i := range s.Credentials {
		cr := &s.Credentials[i]
		if cr.Name == "" {
			add("snmp.credentials[%d].name: is required", i)
			continue
		}
		if names[cr.Name] {
			add("snmp.credentials[%d].name: %q is used twice", i, cr.Name)
		}
		names[cr.Name] = true
		if err := cr.validate(); err != nil {
			add("snmp.credentials %q: %v", cr.Name, err)
		}
	}
	checkRefs := func(where string, refs []string) {
		if len(refs) == 0 && len(s.Credentials) == 0 {
			add("%s: no credentials to try", where)
		}
		for _, r := range refs {
			if !names[r] {
				add("%s: unknown credential %q", where, r)
			}
		}
	}
	for i := range s.Ranges {
		r := &s.Ranges[i]
		where := fmt.Sprintf("snmp.ranges[%d]", i)
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil {
			add("%s.cidr: %q is not a CIDR", where, r.CIDR)
		} else if !p.Addr().Is4() {
			add("%s.cidr: %q: only IPv4 ranges can be swept", where, r.CIDR)
		} else if p.Bits() < 8 {
			add("%s.cidr: %q is larger than a /8", where, r.CIDR)
		} else {
			r.prefix = p.Masked()
		}
		checkRefs(where, r.Credentials)
	}
	for i, t := range s.Targets {
		where := fmt.Sprintf("snmp.targets[%d]", i)
		if t.Address == "" {
			add("%s.address: is required", where)
		}
		checkRefs(where, t.Credentials)
	}
	for _, r := range c.Traps.Credentials {
		if !names[r] {
			add("traps.credentials: unknown credential %q", r)
		}
	}
	if err := c.Traps.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.HL7.Listen != "" && c.HL7.HeartbeatTimeout < time.Second {
		add("hl7.heartbeat_timeout: %s is below 1s", c.HL7.HeartbeatTimeout)
	}
	if (c.HL7.TLSCert == "") != (c.HL7.TLSKey == "") {
		add("hl7.tls_cert and hl7.tls_key go together")
	}
	if err := c.HL7.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (cr *Credential) validate() error {
	switch cr.Version {
	case "1", "2c":
		if cr.Community == "" {
			return errors.New("community is required for v1/v2c")
		}
	case "3":
		if cr.Username == "" {
			return errors.New("username is required for v3")
		}
		if _, err := authProtocol(cr.AuthProtocol); err != nil {
			return err
		}
		if _, err := privProtocol(cr.PrivProtocol); err != nil {
			return err
		}
		if cr.AuthProtocol != "" && cr.AuthPassphrase == "" {
			return errors.New("auth_passphrase is required with auth_protocol")
		}
		if cr.PrivProtocol != "" && (cr.PrivPassphrase == "" || cr.AuthProtocol == "") {
			return errors.New("priv_protocol needs priv_passphrase and an auth_protocol")
		}
		if cr.AuthPassphrase != "" && len(cr.AuthPassphrase) < 8 {
			return errors.New("auth_passphrase must be at least 8 characters (RFC 3414)")
		}
		if cr.PrivPassphrase != "" && len(cr.PrivPassphrase) < 8 {
			return errors.New("priv_passphrase must be at least 8 characters (RFC 3414)")
		}
	default:
		return fmt.Errorf("version %q is not one of 1, 2c, 3", cr.Version)
	}
	return nil
}

// validate checks the HL7 listener settings (only when it is enabled).
func (h *HL7Config) validate() error {
	if h.Listen == "" {
		return nil
	}
	var errs []error
	if h.MaxMessageBytes < 1024 || h.MaxMessageBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("hl7.max_message_bytes: %d is outside 1024..67108864", h.MaxMessageBytes))
	}
	if h.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("hl7.idle_timeout: %s is below 1s", h.IdleTimeout))
	}
	if h.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("hl7.max_connections: %d must be at least 1", h.MaxConnections))
	}
	if h.MaxConnectionsPerPeer < 1 {
		errs = append(errs, fmt.Errorf("hl7.max_connections_per_peer: %d must be at least 1", h.MaxConnectionsPerPeer))
	}
	if h.KnownSenderConnections < 0 || (h.KnownSenderConnections > 0 && h.KnownSenderConnections >= h.MaxConnections) {
		errs = append(errs, fmt.Errorf("hl7.known_sender_connections: %d must be 0 (a tenth of max_connections) or below hl7.max_connections (%d)",
			h.KnownSenderConnections, h.MaxConnections))
	}
	if h.KnownSenderTTL < time.Minute {
		errs = append(errs, fmt.Errorf("hl7.known_sender_ttl: %s is below 1m", h.KnownSenderTTL))
	}
	if h.FrameTimeout < time.Second || h.FrameTimeout > h.IdleTimeout {
		errs = append(errs, fmt.Errorf("hl7.frame_timeout: %s is outside 1s..hl7.idle_timeout (%s)", h.FrameTimeout, h.IdleTimeout))
	}
	if b := h.PartialFrameBudgetBytes; b != 0 && (b < int64(h.MaxMessageBytes)*4/3 || b > 16<<30) {
		errs = append(errs, fmt.Errorf("hl7.partial_frame_budget_bytes: %d is outside %d (4/3 of hl7.max_message_bytes: a quarter is kept for known senders)..17179869184",
			b, int64(h.MaxMessageBytes)*4/3))
	}
	for class, d := range h.ClassTimeouts {
		if class == "" || strings.ToUpper(class) != class || strings.ContainsAny(class, " -.") {
			errs = append(errs, fmt.Errorf("hl7.class_heartbeat_timeouts: %q is not a class name such as VENTILATOR", class))
		}
		if d < time.Second || d > observation.MaxObservationTTL {
			errs = append(errs, fmt.Errorf("hl7.class_heartbeat_timeouts.%s: %s is outside 1s..24h", class, d))
		}
	}
	return errors.Join(errs...)
}
