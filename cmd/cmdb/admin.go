package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/store"
)

// storeFlags select a store without running the server.
type storeFlags struct {
	mongoURI, dataDir, database string
	log                         cli.LogFlags
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mongoURI, "mongo-uri", cli.Env("CMDB_MONGO_URI", ""), "external MongoDB URI; empty = embedded store")
	fs.StringVar(&f.dataDir, "data-dir", cli.Env("CMDB_DATA_DIR", "./data"), "data directory")
	fs.StringVar(&f.database, "database", cli.Env("CMDB_DATABASE", "cmdb"), "database name")
	f.log.Register(fs)
}

func (f *storeFlags) open(ctx context.Context) (*store.Store, error) {
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Options{URI: f.mongoURI, DataDir: f.dataDir, Database: f.database, Logger: log})
}

// tokenCmd manages API tokens: cmdb token create --role R --name N.
func tokenCmd(args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: cmdb token create --role viewer|biomed|servicedesk|admin|collector --name NAME [--collector NAME] [--site SITE]")
	}
	var f storeFlags
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	f.register(fs)
	role := fs.String("role", "", "role of the new token")
	name := fs.String("name", "", "name of the new token (who or what uses it)")
	collector := fs.String("collector", "", "collector tokens: the collector name it reports as, its config's name (default: --name)")
	site := fs.String("site", "", "collector tokens: the only site its observations may carry (default: any)")
	if err := cli.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return err
	}
	if *name == "" {
		return errors.New("token create: --name is required")
	}
	sp := auth.Spec{Name: *name, Role: r, By: "cli", Collector: *collector, Site: *site}
	// Refuse a bad name before starting the store.
	if err := auth.CheckName("token name", strings.TrimSpace(*name)); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	secret, t, err := auth.NewStore(st.DB).Issue(ctx, sp)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if t.Collector != "" {
		// On stderr: stdout is the secret alone, for scripts.
		fmt.Fprintf(os.Stderr, "collector token %q: reports only as collector %q%s\n", t.Name, t.Collector, siteNote(t.Site))
	}
	// The secret is shown once and never stored.
	fmt.Println(secret)
	return nil
}

func siteNote(site string) string {
	if site == "" {
		return ""
	}
	return fmt.Sprintf(", for site %q only", site)
}

// storeCmd runs the embedded store alone, so that several cmdb processes (or tools
// such as mongosh and mongodump) can share it. It listens on a Unix socket that only
// its own user can reach (the store has no authentication); a TCP listener, for
// replicas on other hosts or under other users, needs TLS with client certificates.
func storeCmd(args []string) error {
	fs := flag.NewFlagSet("store", flag.ContinueOnError)
	dataDir := fs.String("data-dir", cli.Env("CMDB_DATA_DIR", "./data"), "data directory")
	socket := fs.String("socket", "", "Unix socket (default <data-dir>/run/store.sock; its directory must be mode 0700)")
	listen := fs.String("listen", "", "TCP address of a TLS listener (needs --tls-cert, --tls-key and --tls-client-ca); empty: the socket only")
	tlsCert := fs.String("tls-cert", "", "PEM server certificate for --listen")
	tlsKey := fs.String("tls-key", "", "PEM private key for --tls-cert")
	clientCA := fs.String("tls-client-ca", "", "PEM CA that signs the clients' certificates; clients without one are refused")
	var lf cli.LogFlags
	lf.Register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.Logger(os.Stderr)
	if err != nil {
		return err
	}
	o := store.Options{DataDir: *dataDir, Socket: *socket, Logger: log}
	if o.Socket == "" {
		// A stable path that clients can be configured with: no temporary fallback.
		if o.Socket, err = store.DefaultSocket(*dataDir); err != nil {
			return err
		}
		if len(o.Socket) > store.MaxSocketPath {
			return fmt.Errorf("store: the socket path %s is %d bytes, over the %d a Unix socket allows: give --socket with a shorter path",
				o.Socket, len(o.Socket), store.MaxSocketPath)
		}
	}
	switch {
	case *listen != "":
		if *tlsCert == "" || *tlsKey == "" || *clientCA == "" {
			return fmt.Errorf("store: --listen %s needs --tls-cert, --tls-key and --tls-client-ca: the store has no other authentication, so a TCP listener accepts only clients with a certificate signed by that CA", *listen)
		}
		o.TLS = &store.TLSListener{Listen: *listen, CertFile: *tlsCert, KeyFile: *tlsKey, ClientCAFile: *clientCA}
	case *tlsCert != "" || *tlsKey != "" || *clientCA != "":
		return errors.New("store: --tls-cert, --tls-key and --tls-client-ca go with --listen")
	}
	e, err := store.StartEmbedded(o)
	if err != nil {
		return err
	}
	defer e.Stop()
	attrs := []any{"uri", e.URI, "socket", e.Socket, "data_dir", *dataDir}
	if e.TLSAddr != "" {
		// Clients add tls=true&tlsCAFile=...&tlsCertificateKeyFile=... (docs/operations.md).
		attrs = append(attrs, "tls_addr", e.TLSAddr)
	}
	log.Info("embedded store listening", attrs...)
	ctx, cancel := cli.SignalContext()
	defer cancel()
	<-ctx.Done()
	return nil
}
