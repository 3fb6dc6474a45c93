package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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
		return errors.New("usage: cmdb token create --role viewer|biomed|servicedesk|admin|collector --name NAME")
	}
	var f storeFlags
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	f.register(fs)
	role := fs.String("role", "", "role of the new token")
	name := fs.String("name", "", "name of the new token (who or what uses it)")
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	secret, _, err := auth.NewStore(st.DB).Create(ctx, *name, r, "cli")
	if err != nil {
		return err
	}
	// The secret is shown once and never stored.
	fmt.Println(secret)
	return nil
}

// storeCmd runs the embedded store alone, so that several cmdb processes (or tools
// such as mongosh and mongodump) can share it: cmdb store --listen 127.0.0.1:27017.
func storeCmd(args []string) error {
	fs := flag.NewFlagSet("store", flag.ContinueOnError)
	dataDir := fs.String("data-dir", cli.Env("CMDB_DATA_DIR", "./data"), "data directory")
	listen := fs.String("listen", "127.0.0.1:27017", "address of the MongoDB wire protocol listener (keep it on loopback)")
	var lf cli.LogFlags
	lf.Register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.Logger(os.Stderr)
	if err != nil {
		return err
	}
	uri, stop, err := store.StartEmbedded(store.Options{DataDir: *dataDir, EmbeddedListen: *listen, Logger: log})
	if err != nil {
		return err
	}
	defer stop()
	log.Info("embedded store listening", "uri", uri, "data_dir", *dataDir)
	ctx, cancel := cli.SignalContext()
	defer cancel()
	<-ctx.Done()
	return nil
}
