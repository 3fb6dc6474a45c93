// Command collector discovers and watches devices at one site and reports what it
// sees to the cmdb.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/discovery"
)

// version is set at build time.
var version = "dev"

const usage = `usage:
  collector --config FILE [flags]        run the collector
  collector check-config --config FILE   validate a config file and exit
  collector version

flags:
  --config FILE            collector configuration (YAML)
  --cmdb URL               GraphQL endpoint, overrides config (env COLLECTOR_CMDB_URL)
  --token TOKEN            bearer token, overrides config (env COLLECTOR_TOKEN)
  --metrics-listen ADDR    /metrics and /healthz (default 127.0.0.1:9464)
  --log-format text|json, --log-level debug|info|warn|error
`

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(args)
	case "check-config":
		err = checkConfig(args)
	case "version":
		fmt.Println("collector", version)
	case "help":
		fmt.Print(usage)
	default:
		err = fmt.Errorf("unknown command %q (try: collector help)", cmd)
	}
	if err != nil {
		cli.Fail("collector", err)
	}
}

type runFlags struct {
	config, cmdb, token, metricsListen string
	log                                cli.LogFlags
}

func loadConfig(f *runFlags) (*discovery.Config, error) {
	if f.config == "" {
		return nil, errors.New("--config FILE is required")
	}
	// The flags override the file; apply them before validation so a config that
	// only works with them still passes.
	if f.cmdb != "" || f.token != "" {
		data, err := os.ReadFile(f.config)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", f.config, err)
		}
		cfg, err := discovery.ParseConfigWith(data, func(c *discovery.Config) {
			if f.cmdb != "" {
				c.CMDB.URL = f.cmdb
			}
			if f.token != "" {
				c.CMDB.Token = discovery.Secret(f.token)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", f.config, err)
		}
		return cfg, nil
	}
	return discovery.LoadConfig(f.config)
}

func run(args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.StringVar(&f.config, "config", "", "collector configuration file")
	fs.StringVar(&f.cmdb, "cmdb", cli.Env("COLLECTOR_CMDB_URL", ""), "cmdb GraphQL endpoint")
	fs.StringVar(&f.token, "token", cli.Env("COLLECTOR_TOKEN", ""), "bearer token")
	fs.StringVar(&f.metricsListen, "metrics-listen", "127.0.0.1:9464", "address for /metrics and /healthz")
	f.log.Register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(&f)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "medcmdb_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": version, "component": "collector"},
		}, func() float64 { return 1 }))
	c, err := discovery.New(cfg, discovery.Options{Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.metricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", f.metricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("collector metrics listening", "addr", ln.Addr().String())

	ctx, stop := cli.SignalContext()
	defer stop()
	err = c.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return err
}

func checkConfig(args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.StringVar(&f.config, "config", "", "collector configuration file")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if _, err := loadConfig(&f); err != nil {
		return err
	}
	fmt.Printf("%s: ok\n", f.config)
	return nil
}
