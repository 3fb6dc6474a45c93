package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/replay"
	"github.com/medcmdb/medcmdb/internal/store"
)

// replayCmd re-runs a candidate policy over the recorded observation history and
// compares it with the policy in force. It reads the store directly and writes only
// to throwaway databases, so it needs the store: a stopped cmdb's --data-dir, or the
// --mongo-uri a running cmdb uses (with `cmdb store` for the embedded one).
func replayCmd(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	mongoURI := fs.String("mongo-uri", cli.Env("CMDB_MONGO_URI", ""), "MongoDB URI; empty = the embedded store in --data-dir")
	dataDir := fs.String("data-dir", cli.Env("CMDB_DATA_DIR", "./data"), "data directory of the embedded store")
	database := fs.String("database", cli.Env("CMDB_DATABASE", "cmdb"), "database name")
	baseline := fs.String("config", cli.Env("CMDB_CONFIG", ""), "the policy in force (default: built-in defaults)")
	candidate := fs.String("policy", "", "the candidate policy to try (required)")
	since := fs.Duration("since", 7*24*time.Hour, "how far back to replay")
	warmUp := fs.Duration("warm-up", 24*time.Hour, "history replayed before the window to establish device state")
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	limit := fs.Int("limit", 20, "incidents listed per section in the text report")
	var lf cli.LogFlags
	lf.Register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *candidate == "" {
		return errors.New("replay: --policy FILE is required")
	}
	if *since <= 0 || *warmUp < 0 {
		return errors.New("replay: --since must be positive and --warm-up not negative")
	}
	log, err := lf.Logger(os.Stderr)
	if err != nil {
		return err
	}
	base, err := incidents.LoadPolicy(*baseline)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	cand, err := incidents.LoadPolicy(*candidate)
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	st, err := store.Open(ctx, store.Options{URI: *mongoURI, DataDir: *dataDir, Database: *database, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	now := time.Now()
	rep, err := replay.Run(ctx, replay.Options{Live: st, Baseline: base, Candidate: cand,
		From: now.Add(-*since), To: now, WarmUp: *warmUp, Logger: log})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(os.Stdout, *limit)
}
