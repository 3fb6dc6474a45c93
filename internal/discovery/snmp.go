package discovery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
)

// Numeric OIDs of the system group (no MIB files at run time).
const (
	oidSysDescr    = "1.3.6.1.2.1.1.1.0"
	oidSysObjectID = "1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
	oidSysName     = "1.3.6.1.2.1.1.5.0"
	oidSysLocation = "1.3.6.1.2.1.1.6.0"
)

var systemOIDs = []string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysName, oidSysLocation}

// SystemInfo is the SNMP system group of one agent.
type SystemInfo struct {
	Descr    string
	ObjectID string
	UpTime   time.Duration
	Name     string
	Location string
}

// Target is one agent address with the credential to reach it.
type Target struct {
	Host string
	Port uint16
}

func (t Target) String() string { return fmt.Sprintf("%s:%d", t.Host, t.Port) }

// SessionParams are the transport settings shared by every session.
type SessionParams struct {
	Timeout time.Duration
	Retries int
	// OnSent and OnRetry let the caller count packets (metrics).
	OnSent  func()
	OnRetry func()
}

func authProtocol(s string) (gosnmp.SnmpV3AuthProtocol, error) {
	switch strings.ToUpper(s) {
	case "":
		return gosnmp.NoAuth, nil
	case "MD5":
		return gosnmp.MD5, nil
	case "SHA", "SHA1":
		return gosnmp.SHA, nil
	case "SHA224":
		return gosnmp.SHA224, nil
	case "SHA256":
		return gosnmp.SHA256, nil
	case "SHA384":
		return gosnmp.SHA384, nil
	case "SHA512":
		return gosnmp.SHA512, nil
	}
	return 0, fmt.Errorf("auth_protocol %q is not one of MD5 SHA SHA224 SHA256 SHA384 SHA512", s)
}

func privProtocol(s string) (gosnmp.SnmpV3PrivProtocol, error) {
	switch strings.ToUpper(s) {
	case "":
		return gosnmp.NoPriv, nil
	case "DES":
		return gosnmp.DES, nil
	case "AES", "AES128":
		return gosnmp.AES, nil
	case "AES192":
		return gosnmp.AES192, nil
	case "AES256":
		return gosnmp.AES256, nil
	case "AES192C":
		return gosnmp.AES192C, nil
	case "AES256C":
		return gosnmp.AES256C, nil
	}
	return 0, fmt.Errorf("priv_protocol %q is not one of DES AES AES192 AES256 AES192C AES256C", s)
}

// newSession builds a gosnmp session for one target and credential. The UDP socket is
// connected so that a closed port (agent gone) fails at once with ICMP instead of
// waiting out the timeout. A session is not safe for concurrent use: each worker owns
// the ones it makes.
func newSession(ctx context.Context, t Target, cr *Credential, p SessionParams) (*gosnmp.GoSNMP, error) {
	g := &gosnmp.GoSNMP{
		Target:         t.Host,
		Port:           t.Port,
		Transport:      "udp",
		Context:        ctx,
		Timeout:        p.Timeout,
		Retries:        p.Retries,
		MaxOids:        gosnmp.MaxOids,
		MaxRepetitions: 25,
	}
	if p.OnSent != nil {
		g.OnSent = func(*gosnmp.GoSNMP) { p.OnSent() }
	}
	if p.OnRetry != nil {
		g.OnRetry = func(*gosnmp.GoSNMP) { p.OnRetry() }
	}
	switch cr.Version {
	case "1":
		g.Version = gosnmp.Version1
		g.Community = cr.Community.Reveal()
	case "2c":
		g.Version = gosnmp.Version2c
		g.Community = cr.Community.Reveal()
	case "3":
		ap, err := authProtocol(cr.AuthProtocol)
		if err != nil {
			return nil, err
		}
		pp, err := privProtocol(cr.PrivProtocol)
		if err != nil {
			return nil, err
		}
		flags := gosnmp.NoAuthNoPriv
		switch {
		case pp != gosnmp.NoPriv:
			flags = gosnmp.AuthPriv
		case ap != gosnmp.NoAuth:
			flags = gosnmp.AuthNoPriv
		}
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags = flags
		g.ContextName = cr.ContextName
		g.SecurityParameters = &gosnmp.UsmSecurityParameters{
			UserName:                 cr.Username,
			AuthenticationProtocol:   ap,
			AuthenticationPassphrase: cr.AuthPassphrase.Reveal(),
			PrivacyProtocol:          pp,
			PrivacyPassphrase:        cr.PrivPassphrase.Reveal(),
		}
	default:
		return nil, fmt.Errorf("credential %q: unknown version %q", cr.Name, cr.Version)
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", t, err)
	}
	return g, nil
}

// getSystem reads the system group. An agent that answers anything at all is alive,
// so a reply with missing objects is still a success.
func getSystem(g *gosnmp.GoSNMP) (SystemInfo, error) {
	pkt, err := g.Get(systemOIDs)
	if err != nil {
		return SystemInfo{}, err
	}
	if pkt.Error != gosnmp.NoError {
		return SystemInfo{}, fmt.Errorf("agent error %s", pkt.Error)
	}
	var si SystemInfo
	for _, v := range pkt.Variables {
		switch strings.TrimPrefix(v.Name, ".") {
		case oidSysDescr:
			si.Descr = pduString(v)
		case oidSysObjectID:
			si.ObjectID = strings.TrimPrefix(pduString(v), ".")
		case oidSysUpTime:
			if ticks, ok := pduUint(v); ok {
				si.UpTime = time.Duration(ticks) * 10 * time.Millisecond
			}
		case oidSysName:
			si.Name = pduString(v)
		case oidSysLocation:
			si.Location = pduString(v)
		}
	}
	return si, nil
}

func pduString(v gosnmp.SnmpPDU) string {
	switch val := v.Value.(type) {
	case []byte:
		return sanitize(string(val))
	case string:
		return sanitize(val)
	case nil:
		return ""
	default:
		return fmt.Sprint(val)
	}
}

func pduUint(v gosnmp.SnmpPDU) (uint64, bool) {
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return 0, false
	}
	b := gosnmp.ToBigInt(v.Value)
	if b.Sign() < 0 || !b.IsUint64() {
		return 0, false
	}
	return b.Uint64(), true
}

// sanitize keeps agent strings printable and bounded; agents send NULs and binary.
func sanitize(s string) string {
	const maxLen = 512
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}
