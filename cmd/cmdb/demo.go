package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/server"
)

type demoFlags struct {
	listen, dataDir, scenario, snmpListen, control string
	devices                                        int
	seed                                           uint64
	timeScale                                      float64
	pollInterval                                   time.Duration
	log                                            cli.LogFlags
}

// demo runs the whole product on one machine: the embedded store, the cmdb, a
// simulated hospital on loopback, and one in-process collector per site that talks to
// the cmdb over HTTP with a collector token, exactly as a remote collector would.
func demo(args []string) error {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", cli.Env("CMDB_LISTEN", "127.0.0.1:8080"), "HTTP address of the cmdb")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (default: a temporary one, removed on exit)")
	fs.IntVar(&f.devices, "devices", 500, "simulated devices")
	fs.Uint64Var(&f.seed, "seed", 1, "hospital layout seed")
	fs.StringVar(&f.scenario, "scenario", "default", `failure scenario: "default", "none" or a YAML file`)
	fs.Float64Var(&f.timeScale, "time-scale", 1, "multiply scenario times by this (0.5: twice as fast)")
	fs.DurationVar(&f.pollInterval, "poll-interval", 5*time.Second, "collector poll interval")
	fs.StringVar(&f.snmpListen, "snmp-listen", "0.0.0.0:0", "UDP address of the simulated agents (port 0: any free port)")
	fs.StringVar(&f.control, "control-listen", "127.0.0.1:0", "simulator control endpoint (loopback)")
	f.log.Register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: f.seed, Devices: f.devices})
	if err != nil {
		return err
	}
	var sc *devicesim.Scenario
	switch f.scenario {
	case "none":
	case "default":
		sc = devicesim.DefaultScenario()
	default:
		if sc, err = devicesim.LoadScenario(f.scenario); err != nil {
			return err
		}
	}
	if sc != nil {
		if err := sc.Validate(h); err != nil {
			if f.scenario == "default" {
				return fmt.Errorf("the default scenario needs --devices 156 or more (or --scenario none): %d devices lack some of its targets", f.devices)
			}
			return fmt.Errorf("scenario: %w (try more --devices)", err)
		}
	}
	if f.dataDir == "" {
		if f.dataDir, err = os.MkdirTemp("", "medcmdb-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(f.dataDir)
	}

	ctx, stop := cli.SignalContext()
	defer stop()
	// The cmdb outlives the collectors so their last batches still land.
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	srv, err := server.New(srvCtx, server.Config{Listen: f.listen, DataDir: f.dataDir, Database: "cmdb",
		Policy: demoPolicy(f.timeScale), Logger: log})
	if err != nil {
		return err
	}
	viewer, _, err := srv.Tokens().Create(ctx, "demo-admin", auth.RoleAdmin, "demo")
	if err != nil {
		return err
	}
	collectorToken, _, err := srv.Tokens().Create(ctx, "demo-collector", auth.RoleCollector, "demo")
	if err != nil {
		return err
	}
	sim, err := devicesim.New(h, devicesim.Config{Listen: f.snmpListen, Logger: log})
	if err != nil {
		return err
	}
	ctl, err := devicesim.NewControl(sim, f.control)
	if err != nil {
		sim.Close()
		return err
	}
	cfgs, err := demoCollectorConfigs(h, sim.Port(), srv.URL()+"/graphql", collectorToken, f.pollInterval)
	if err != nil {
		sim.Close()
		return err
	}
	colls := &demoCollectors{cfgs: cfgs, log: log}

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	wg.Go(func() { errc <- srv.Run(srvCtx) })
	simCtx, stopSim := context.WithCancel(context.Background())
	defer stopSim()
	wg.Go(func() { errc <- sim.Run(simCtx) })
	wg.Go(func() { errc <- ctl.Run(simCtx) })
	colls.start(ctx)
	sim.OnEvent(func(a devicesim.Applied) {
		switch a.Event.Action {
		case devicesim.ActCollectorDown:
			colls.stop()
		case devicesim.ActCollectorUp:
			colls.start(ctx)
		}
	})
	printBanner(os.Stdout, srv.URL(), viewer, ctl.URL(), h, sc, f.timeScale, sim.Port())
	if sc != nil {
		wg.Go(func() {
			if err := sim.RunScenario(ctx, sc, f.timeScale); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
			}
		})
	}

	<-ctx.Done()
	log.Info("demo stopping")
	colls.stop()
	stopSim()
	sim.Wait()
	stopSrv()
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// demoCollectorConfigs builds one collector configuration per site, with one range
// per unit carrying the unit's location, as an operator would write them.
func demoCollectorConfigs(h *devicesim.Hospital, port int, url, token string, poll time.Duration) ([]*discovery.Config, error) {
	var out []*discovery.Config
	for _, s := range h.Sites {
		cfg := discovery.DefaultConfig()
		cfg.Name = "demo-" + s.Code
		cfg.Site = s.Name
		cfg.CMDB.URL = url
		cfg.CMDB.Token = discovery.Secret(token)
		cfg.Refresh = 20 * time.Second
		cfg.SNMP.Port = port
		cfg.SNMP.Timeout = 500 * time.Millisecond
		cfg.SNMP.Retries = 0
		cfg.SNMP.PollInterval = poll
		cfg.SNMP.DownAfter = 2
		cfg.SNMP.Credentials = []discovery.Credential{{Name: "public-v2", Version: "2c", Community: "public"}}
		for _, u := range s.Units {
			cfg.SNMP.Ranges = append(cfg.SNMP.Ranges, discovery.Range{
				CIDR: u.Prefix.String(), Credentials: []string{"public-v2"},
				Location: discovery.Location{Building: u.Building, Floor: fmt.Sprint(u.Floor), Unit: u.Name, CareArea: u.CareArea},
			})
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("collector for %s: %w", s.Name, err)
		}
		out = append(out, &cfg)
	}
	return out, nil
}

// demoCollectors runs the site collectors and can stop and restart them (the
// scenario's collector outage).
type demoCollectors struct {
	cfgs []*discovery.Config
	log  *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (c *demoCollectors) start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	for _, cfg := range c.cfgs {
		col, err := discovery.New(cfg, discovery.Options{Logger: c.log})
		if err != nil {
			c.log.Error("starting demo collector", "site", cfg.Site, "err", err)
			continue
		}
		c.wg.Go(func() {
			if err := col.Run(cctx); err != nil {
				c.log.Error("demo collector stopped", "site", cfg.Site, "err", err)
			}
		})
	}
}

func (c *demoCollectors) stop() {
	c.mu.Lock()
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		c.wg.Wait()
	}
}

func printBanner(w io.Writer, url, token, control string, h *devicesim.Hospital, sc *devicesim.Scenario, scale float64, port int) {
	first, last := h.Devices[0].IP(), h.Devices[len(h.Devices)-1].IP()
	fmt.Fprintf(w, "\nmedcmdb demo: a simulated hospital of %d devices in %d units (%s .. %s, UDP port %d)\n\n",
		len(h.Devices), len(h.Units), first, last, port)
	fmt.Fprintf(w, "  board:     %s/\n", url)
	fmt.Fprintf(w, "  graphql:   %s/graphql\n", url)
	fmt.Fprintf(w, "  token:     %s\n", token)
	fmt.Fprintf(w, "  simulator: %s/devices  (POST %s/devices/NAME/down to break one)\n", control, control)
	if sc != nil && len(sc.Events) > 0 {
		end := time.Duration(float64(sc.Events[len(sc.Events)-1].At) * scale)
		fmt.Fprintf(w, "  scenario:  %s, %d events over %s\n", sc.Name, len(sc.Events), end)
	}
	fmt.Fprintf(w, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' %s/graphql \\\n"+
		"    -d '{\"query\":\"{ incidents(filter:{open:true}) { totalCount nodes { number priority title } } }\"}'\n\n", token, url)
}

// demoPolicy is the default policy with its waiting times compressed like the
// scenario's, so a printer's two-minute hold does not outlast a fast demo.
func demoPolicy(scale float64) *incidents.Policy {
	p := incidents.DefaultPolicy()
	p.Scale(scale)
	return p
}
