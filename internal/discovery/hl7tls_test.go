package discovery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
)

func TestHL7ListenerTLS(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	cfg := hl7Config()
	cfg.HL7.TLSCert, cfg.HL7.TLSKey = certFile, keyFile
	e := startHL7(t, cfg, nil)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	c, err := mllp.Dial(context.Background(), e.l.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := c.Send(context.Background(), hl7test.Pump.Heartbeat("tls-1"))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := hl7.ReadAck(b); err != nil || a.Code != hl7.AA || a.ControlID != "tls-1" {
		t.Fatalf("ack over TLS %+v, %v", a, err)
	}

	// A missing key file is a clear error naming the files.
	cfg2 := hl7Config()
	cfg2.HL7.TLSCert, cfg2.HL7.TLSKey = certFile, filepath.Join(dir, "missing.pem")
	if _, err := NewHL7Listener(cfg2, &recorder{}, HL7Options{}); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing key: %v", err)
	}
}
