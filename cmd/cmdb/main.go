// Command cmdb runs the medcmdb CMDB server.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/server"
)

const usage = `usage:
  cmdb [serve] [flags]             run the CMDB server
  cmdb demo [--listen ADDR] [--devices N] [--data-dir DIR]
                                   a simulated hospital, a collector and the cmdb
  cmdb check-config --config FILE  validate a policy file and exit
  cmdb token create --role R --name N   create an API token (printed once)
  cmdb store [--data-dir DIR] [--socket PATH] [--listen ADDR --tls-cert F --tls-key F --tls-client-ca F]
                                   run only the embedded store, for several cmdb processes:
                                   on a Unix socket only its user can reach, and on TCP only
                                   with TLS client certificates
  cmdb import --csv FILE [--url URL] [--token TOKEN] [--poll 500ms]
                                   import assets into a running cmdb (as a job it follows);
                                   every line not imported is listed
  cmdb export --csv [--out FILE] [--site S] [--care-area A] [--url URL] [--token TOKEN]
                                   export assets as CSV (the import format)
  cmdb replay --policy FILE [--since 168h] [--config CURRENT] [--json] [--mongo-uri URI | --data-dir DIR]
                                   re-run a candidate policy over the recorded observations
  cmdb version

serve flags:
  --listen ADDR      HTTP address (default 127.0.0.1:8080, env CMDB_LISTEN)
  --mongo-uri URI    external MongoDB; empty = embedded store (env CMDB_MONGO_URI)
  --data-dir DIR     embedded store + bootstrap files (default ./data, env CMDB_DATA_DIR)
  --database NAME    database name (default cmdb, env CMDB_DATABASE)
  --config FILE      YAML policy (env CMDB_CONFIG)
  --tls-cert FILE --tls-key FILE   serve HTTPS (env CMDB_TLS_CERT, CMDB_TLS_KEY)
  --log-format text|json, --log-level debug|info|warn|error
`

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "demo":
		err = demo(args)
	case "check-config":
		err = checkConfig(args)
	case "token":
		err = tokenCmd(args)
	case "store":
		err = storeCmd(args)
	case "import":
		err = importCSV(args)
	case "export":
		err = exportCSV(args)
	case "replay":
		err = replayCmd(args)
	case "version":
		fmt.Println("cmdb", server.Version)
	case "help":
		fmt.Print(usage)
	default:
		err = fmt.Errorf("unknown command %q (try: cmdb help)", cmd)
	}
	if err != nil {
		cli.Fail("cmdb", err)
	}
}

type serveFlags struct {
	listen, mongoURI, dataDir, database, config string
	tlsCert, tlsKey                             string
	log                                         cli.LogFlags
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", cli.Env("CMDB_LISTEN", "127.0.0.1:8080"), "HTTP address")
	fs.StringVar(&f.mongoURI, "mongo-uri", cli.Env("CMDB_MONGO_URI", ""), "external MongoDB URI; empty = embedded store")
	fs.StringVar(&f.dataDir, "data-dir", cli.Env("CMDB_DATA_DIR", "./data"), "data directory")
	fs.StringVar(&f.database, "database", cli.Env("CMDB_DATABASE", "cmdb"), "database name")
	fs.StringVar(&f.config, "config", cli.Env("CMDB_CONFIG", ""), "YAML policy file")
	fs.StringVar(&f.tlsCert, "tls-cert", cli.Env("CMDB_TLS_CERT", ""), "PEM certificate: serve HTTPS")
	fs.StringVar(&f.tlsKey, "tls-key", cli.Env("CMDB_TLS_KEY", ""), "PEM private key for --tls-cert")
	f.log.Register(fs)
}

func serve(args []string) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f.register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	policy, err := incidents.LoadPolicy(f.config)
	if err != nil {
		return err
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	srv, err := server.New(ctx, server.Config{
		Listen: f.listen, MongoURI: f.mongoURI, DataDir: f.dataDir, Database: f.database,
		Policy: policy, Logger: log, TLSCert: f.tlsCert, TLSKey: f.tlsKey,
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func checkConfig(args []string) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", cli.Env("CMDB_CONFIG", ""), "YAML policy file")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("check-config: --config FILE is required")
	}
	if _, err := incidents.LoadPolicy(*path); err != nil {
		return err
	}
	fmt.Printf("%s: ok\n", *path)
	return nil
}
