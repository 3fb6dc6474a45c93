// Command trapflood measures what a trap flood costs the cmdb's store (issue 16 item
// 7): a cmdb on a fresh embedded store and a collector watching one range, both in
// this process, and UDP traps from loopback senders inside the range and outside it,
// at a fixed rate for a fixed time. When the collector has delivered everything it
// took, both stop and the store is measured: asset history, asset records, the
// observation log (collStats data sizes) and the data directory on disk. See
// bench/traps.md.
//
//	go run ./bench/trapflood
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/server"
	"github.com/medcmdb/medcmdb/internal/store"
)

func main() {
	inside := flag.Int("inside", 10, "senders inside the collector's range (127.77.0.0/24): half the traps")
	outside := flag.Int("outside", 240, "senders outside it (127.78.0.0/16): the other half")
	rate := flag.Int("rate", 2000, "traps per second, all senders together")
	dur := flag.Duration("duration", 10*time.Second, "how long the flood lasts")
	drain := flag.Duration("drain", 10*time.Minute, "how long to wait for the collector to deliver")
	flag.Parse()
	if err := run(*inside, *outside, *rate, *dur, *drain); err != nil {
		fmt.Fprintln(os.Stderr, "trapflood:", err)
		os.Exit(1)
	}
}

func run(inside, outside, rate int, dur, drain time.Duration) error {
	if inside < 1 || inside > 250 || outside < 1 {
		return fmt.Errorf("--inside must be 1..250 and --outside at least 1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "trapflood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), Policy: incidents.DefaultPolicy(), Logger: quiet})
	if err != nil {
		return err
	}
	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx) }()
	token, err := os.ReadFile(srv.AdminTokenPath())
	if err != nil {
		return err
	}
	cfg, err := discovery.ParseConfig(fmt.Appendf(nil, `site: flood
name: flood-collector
cmdb: {url: %q, token: %q}
spool_dir: %q
traps: {listen: "127.0.0.1:0"}
snmp:
  timeout: 100ms
  retries: 0
  discovery_schedule: "@every 100h"
  credentials: [{name: v2, version: 2c, community: public}]
  ranges: [{cidr: 127.77.0.0/24}]
`, srv.URL()+"/graphql", strings.TrimSpace(string(token)), filepath.Join(dir, "spool")))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	col, err := discovery.New(cfg, discovery.Options{Logger: quiet, Registerer: reg})
	if err != nil {
		return err
	}
	colCtx, stopCol := context.WithCancel(ctx)
	defer stopCol()
	colDone := make(chan error, 1)
	go func() { colDone <- col.Run(colCtx) }()

	var senders []*net.UDPConn
	for i := range inside + outside {
		src := fmt.Sprintf("127.77.0.%d", 1+i%250)
		if i >= inside {
			k := i - inside
			src = fmt.Sprintf("127.78.%d.%d", k/250, 1+k%250)
		}
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, col.Traps().Addr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		senders = append(senders, c)
	}
	fmt.Printf("flood: %d traps/s for %s from %d senders inside the range and %d outside\n", rate, dur, inside, outside)
	start := time.Now()
	sent := 0
	for time.Since(start) < dur {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; sent < due; sent++ {
			b, err := (&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: uint32(sent),
				Variables: []gosnmp.SnmpPDU{
					{Name: "1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(sent)},
					{Name: "1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: fmt.Sprintf("1.3.6.1.4.1.99999.0.%d", sent)},
					{Name: "1.3.6.1.4.1.99999.1.1", Type: gosnmp.OctetString, Value: []byte("flood payload 0123456789")},
				}}).MarshalMsg()
			if err != nil {
				return err
			}
			// Half the traffic from inside the range, half from outside.
			to := senders[inside+(sent/2)%outside]
			if sent%2 == 0 || outside == 0 {
				to = senders[(sent/2)%inside]
			}
			_, _ = to.Write(b)
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("sent %d traps in %.1fs\n", sent, time.Since(start).Seconds())

	// Wait until everything the collector took is delivered.
	deadline := time.Now().Add(drain)
	for {
		emitted, delivered := metric(reg, "medcmdb_observations_emitted_total", ""), metric(reg, "medcmdb_observations_delivered_total", "")
		received := metric(reg, "medcmdb_snmp_traps_total", "result=received")
		if received >= float64(sent)*0.99 && delivered >= emitted && metric(reg, "medcmdb_spool_observations", "") == 0 {
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("not drained after %s: emitted %.0f delivered %.0f\n", drain, emitted, delivered)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Printf("drained %.1fs after the flood began\n", time.Since(start).Seconds())
	fmt.Printf("collector: traps received %.0f, decoded %.0f, rejected %.0f, dropped %.0f, ignored out_of_range %.0f, rate_limited %.0f; observations emitted %.0f, delivered %.0f\n",
		metric(reg, "medcmdb_snmp_traps_total", "result=received"), metric(reg, "medcmdb_snmp_traps_total", "result=decoded"),
		metric(reg, "medcmdb_snmp_traps_total", "result=rejected"), metric(reg, "medcmdb_snmp_traps_total", "result=dropped"),
		metric(reg, "medcmdb_snmp_traps_ignored_total", "reason=out_of_range"), metric(reg, "medcmdb_snmp_traps_ignored_total", "reason=rate_limited"),
		metric(reg, "medcmdb_observations_emitted_total", ""), metric(reg, "medcmdb_observations_delivered_total", ""))
	fmt.Printf("cmdb: observations applied %.0f, stale %.0f, duplicate %.0f; assets %.0f\n",
		metric(srv.Registry(), "medcmdb_observations_applied_total", "result=applied"),
		metric(srv.Registry(), "medcmdb_observations_applied_total", "result=stale"),
		metric(srv.Registry(), "medcmdb_observations_applied_total", "result=duplicate"),
		metric(srv.Registry(), "medcmdb_assets", ""))
	stopCol()
	<-colDone
	stopSrv()
	<-srvDone
	return measure(ctx, filepath.Join(dir, "data"))
}

// measure opens the stopped cmdb's embedded store and prints the data size of each
// group of collections, and the data directory's size on disk.
func measure(ctx context.Context, dataDir string) error {
	st, err := store.Open(ctx, store.Options{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	names, err := st.DB.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		return err
	}
	groups := map[string][2]int64{} // bytes, documents
	for _, n := range names {
		var res bson.M
		if err := st.DB.RunCommand(ctx, bson.D{{Key: "collStats", Value: n}}).Decode(&res); err != nil {
			return fmt.Errorf("collStats %s: %w", n, err)
		}
		g := "other"
		for _, p := range []string{"asset_history", "asset_versions", "assets", "observation_log_"} {
			if strings.HasPrefix(n, p) {
				g = p
				break
			}
		}
		v := groups[g]
		groups[g] = [2]int64{v[0] + num(res["size"]), v[1] + num(res["count"])}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("store: %-17s %9.2f MB in %7d documents\n", strings.TrimSuffix(k, "_"), float64(groups[k][0])/1e6, groups[k][1])
	}
	var disk int64
	_ = filepath.WalkDir(dataDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	fmt.Printf("data directory on disk: %.1f MB\n", float64(disk)/1e6)
	return nil
}

func num(v any) int64 {
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// metric sums the samples of a metric whose labels include label ("name=value"; ""
// matches all).
func metric(g prometheus.Gatherer, name, label string) float64 {
	mfs, _ := g.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName()+"="+lp.GetValue() == label {
					ok = true
				}
			}
			if !ok {
				continue
			}
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Gauge != nil:
				total += m.Gauge.GetValue()
			}
		}
	}
	return total
}
