package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/devicesim"
	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/server"
)

type demoFlags struct {
	listen, dataDir, scenario, snmpListen, control string
	devices                                        int
	seed                                           uint64
	timeScale                                      float64
	pollInterval, hl7Interval                      time.Duration
	log                                            cli.LogFlags
}

// demo runs the whole product on one machine: the embedded store, the cmdb, a
// simulated hospital on loopback, and one in-process collector per site that talks to
// the cmdb over HTTP with a collector token, exactly as a remote collector would. Each
// collector sweeps and polls its site (fingerprints, inventory, topology, UPS-MIB),
// receives the simulator's traps and its HL7 devices' messages over MLLP.
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
	fs.DurationVar(&f.hl7Interval, "hl7-interval", 5*time.Second, "how often each HL7 device sends (heartbeat lost after 3 intervals)")
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
	desk, err := newDemoDesk(os.Stdout)
	if err != nil {
		return err
	}
	deskCtx, stopDesk := context.WithCancel(context.Background())
	defer stopDesk()
	go desk.Run(deskCtx)
	policy := demoPolicy(f.timeScale)
	policy.Webhooks = append(policy.Webhooks, desk.webhook())
	srv, err := server.New(srvCtx, server.Config{Listen: f.listen, DataDir: f.dataDir, Database: "cmdb",
		Policy: policy, Logger: log})
	if err != nil {
		return err
	}
	// Reissued at each start: a kept --data-dir already has tokens of these names.
	viewer, _, err := srv.Tokens().Reissue(ctx, auth.Spec{Name: "demo-admin", Role: auth.RoleAdmin, By: "demo"})
	if err != nil {
		return err
	}
	// One token per site collector, bound to it (a collector token reports only as
	// its own collector and site).
	collectorToken := func(name, site string) (string, error) {
		secret, _, err := srv.Tokens().Reissue(ctx, auth.Spec{Name: name, Role: auth.RoleCollector, By: "demo", Site: site})
		return secret, err
	}
	// The collectors bind their trap and HL7 listeners first: the simulator sends there.
	sim, err := devicesim.New(h, devicesim.Config{Listen: f.snmpListen, Logger: log})
	if err != nil {
		return err
	}
	cfgs, err := demoCollectorConfigs(h, sim.Port(), srv.URL()+"/graphql", collectorToken, f.pollInterval, f.hl7Interval)
	if err != nil {
		sim.Close()
		return err
	}
	colls := &demoCollectors{cfgs: cfgs, log: log}
	if err := colls.build(); err != nil {
		sim.Close()
		return err
	}
	traps, hl7Addrs := colls.receivers()
	if err := sim.SetTraps(traps); err != nil {
		sim.Close()
		return err
	}
	senders, err := devicesim.NewHL7(sim, devicesim.HL7Config{SiteAddrs: hl7Addrs, Interval: f.hl7Interval, Logger: log})
	if err != nil {
		sim.Close()
		return err
	}
	ctl, err := devicesim.NewControl(sim, f.control)
	if err != nil {
		sim.Close()
		return err
	}

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	wg.Go(func() { errc <- srv.Run(srvCtx) })
	simCtx, stopSim := context.WithCancel(context.Background())
	defer stopSim()
	wg.Go(func() { errc <- sim.Run(simCtx) })
	// The HL7 senders stop first, so the collectors do not see them drop at shutdown.
	hl7Ctx, stopHL7 := context.WithCancel(simCtx)
	defer stopHL7()
	hl7Done := make(chan struct{})
	wg.Go(func() { errc <- senders.Run(hl7Ctx); close(hl7Done) })
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
	printBanner(os.Stdout, srv.URL(), viewer, ctl.URL(), h, senders, sc, f.timeScale, sim.Port())
	if sc != nil {
		wg.Go(func() {
			if err := sim.RunScenario(ctx, sc, f.timeScale); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
			}
		})
	}

	<-ctx.Done()
	log.Info("demo stopping")
	stopHL7()
	<-hl7Done
	colls.stop()
	stopSim()
	sim.Wait()
	stopSrv()
	wg.Wait()
	stopDesk()
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
// per unit carrying the unit's location, as an operator would write them, and trap
// and HL7 listeners on loopback (port 0 until the first start binds them).
func demoCollectorConfigs(h *devicesim.Hospital, port int, url string, token func(name, site string) (string, error), poll, hl7Interval time.Duration) ([]*discovery.Config, error) {
	var out []*discovery.Config
	for _, s := range h.Sites {
		cfg := discovery.DefaultConfig()
		cfg.Name = "demo-" + s.Code
		cfg.Site = s.Name
		cfg.CMDB.URL = url
		secret, err := token(cfg.Name, cfg.Site)
		if err != nil {
			return nil, fmt.Errorf("collector token for %s: %w", s.Name, err)
		}
		cfg.CMDB.Token = discovery.Secret(secret)
		cfg.Refresh = 20 * time.Second
		cfg.SNMP.Port = port
		cfg.SNMP.Timeout = 500 * time.Millisecond
		cfg.SNMP.Retries = 0
		cfg.SNMP.PollInterval = poll
		cfg.SNMP.DownAfter = 2
		// Inventory (ENTITY-MIB, interfaces, forwarding tables, LLDP) is read after
		// discovery and then this often: topology follows the simulated network.
		cfg.SNMP.InventoryInterval = 5 * time.Minute
		cfg.SNMP.Credentials = []discovery.Credential{{Name: "public-v2", Version: "2c", Community: "public"}}
		for _, u := range s.Units {
			cfg.SNMP.Ranges = append(cfg.SNMP.Ranges, discovery.Range{
				CIDR: u.Prefix.String(), Credentials: []string{"public-v2"},
				Location: observation.Location{Building: u.Building, Floor: fmt.Sprint(u.Floor), Unit: u.Name, CareArea: u.CareArea},
			})
		}
		cfg.Traps.Listen = "127.0.0.1:0"
		cfg.HL7.Listen = "127.0.0.1:0"
		cfg.HL7.HeartbeatTimeout = 3 * hl7Interval
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("collector for %s: %w", s.Name, err)
		}
		out = append(out, &cfg)
	}
	return out, nil
}

// demoCollectors runs the site collectors and can stop and restart them (the
// scenario's collector outage). A restarted collector listens where the first one did,
// so the simulator's traps and HL7 connections find it again.
type demoCollectors struct {
	cfgs []*discovery.Config
	log  *slog.Logger

	mu     sync.Mutex
	built  []*discovery.Collector // bound, not yet running
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// build creates (and so binds) every site's collector, and pins the listeners'
// addresses into the configurations.
func (c *demoCollectors) build() error {
	var built []*discovery.Collector
	for _, cfg := range c.cfgs {
		col, err := discovery.New(cfg, discovery.Options{Logger: c.log})
		if err != nil {
			return fmt.Errorf("demo collector for %s: %w", cfg.Site, err)
		}
		cfg.Traps.Listen = col.Traps().Addr().String()
		cfg.HL7.Listen = col.HL7().Addr().String()
		built = append(built, col)
	}
	c.built = built
	return nil
}

// receivers returns where the simulator sends each site's traps and HL7 messages.
func (c *demoCollectors) receivers() ([]devicesim.TrapTarget, map[string]string) {
	var traps []devicesim.TrapTarget
	hl7 := map[string]string{}
	for _, cfg := range c.cfgs {
		traps = append(traps, devicesim.TrapTarget{Addr: netip.MustParseAddrPort(cfg.Traps.Listen), Version: "2c",
			Community: "public", Site: cfg.Site})
		hl7[cfg.Site] = cfg.HL7.Listen
	}
	return traps, hl7
}

func (c *demoCollectors) start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return
	}
	if c.built == nil {
		if err := c.build(); err != nil {
			c.log.Error("restarting demo collectors", "err", err)
			return
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	for i, col := range c.built {
		site := c.cfgs[i].Site
		c.wg.Go(func() {
			if err := col.Run(cctx); err != nil {
				c.log.Error("demo collector stopped", "site", site, "err", err)
			}
		})
	}
	c.built = nil
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

func printBanner(w io.Writer, url, token, control string, h *devicesim.Hospital, senders *devicesim.HL7, sc *devicesim.Scenario, scale float64, port int) {
	first, last := h.Devices[0].IP(), h.Devices[len(h.Devices)-1].IP()
	fmt.Fprintf(w, "\nmedcmdb demo: a simulated hospital of %d devices in %d units (%s .. %s, SNMP on UDP port %d;\n"+
		"%d of them speak HL7 over %d MLLP connections)\n\n",
		len(h.Devices), len(h.Units), first, last, port, senders.Devices(), senders.Connections())
	fmt.Fprintf(w, "  board:     %s/   (paste the token when it asks)\n", url)
	fmt.Fprintf(w, "  graphql:   %s/graphql   (open it in a browser for the explorer)\n", url)
	fmt.Fprintf(w, "  token:     %s\n", token)
	fmt.Fprintf(w, "  simulator: %s/devices  (POST %s/devices/NAME/down to break one; GET %s/ lists every action)\n", control, control, control)
	fmt.Fprintf(w, "  shell:     export TOKEN=%s SIM=%s\n", token, control)
	if sc != nil && len(sc.Events) > 0 {
		end := time.Duration(float64(sc.Events[len(sc.Events)-1].At) * scale)
		fmt.Fprintf(w, "\nWhat happens (scenario %s, %d events over %s):\n", sc.Name, len(sc.Events), end)
		for _, e := range sc.Events {
			at := time.Duration(float64(e.At) * scale).Round(time.Second)
			fmt.Fprintf(w, "  %2d:%02d  %s\n", int(at.Minutes()), int(at.Seconds())%60, e.Note)
		}
		fmt.Fprintf(w, "Failures marked \"until cleared\" stand until you clear them, e.g. the ED switch:\n"+
			"  curl -s -X POST %s/events -d '{\"action\":\"up\",\"target\":{\"class\":\"NETWORK_SWITCH\",\"careArea\":\"ED\"}}'\n"+
			"and play it again with \"action\":\"down\".\n", control)
	}
	q := func(query string) string {
		return fmt.Sprintf("  curl -s -H 'Authorization: Bearer %s' %s/graphql \\\n    -d '{\"query\":\"%s\"}'\n", token, url, query)
	}
	fmt.Fprintf(w, "\nWhat to look at:\n"+
		"- The board: open incidents by priority and care area. The ICU ventilator is a P1 (life support,\n"+
		"  ICU, a patient connected); a ward printer is a P5.\n"+
		"- What to act on, P1 first: the ED switch outage is ONE notified root incident that counts the\n"+
		"  devices it took down and their incidents (suppressed under it, not in this list):\n%s"+
		"- What the ED switch took down, device by device:\n%s"+
		"- One record per device: HL7 (EUI-64, MEM-DMC serial, patient) merged with SNMP (sysName, MAC, switch port):\n%s"+
		"- Why a priority: every incident says (priorityReason), e.g. for the P1s to act on:\n%s\n",
		q(`{ incidents(filter:{open:true, suppressed:false}, first:20) { nodes { number priority title suppressedDeviceCount suppressedIncidentCount } } }`),
		q(`{ incidents(filter:{open:true, suppressed:false, priority:P1}, first:5) { nodes { number title impactedDeviceCount impactedDevices { name class location { unit } patientConnected } } } }`),
		q(`{ assets(filter:{class:VENTILATOR}) { nodes { name eui64 serialNumber sources patientConnected upstream { kind asset { name } } } } }`),
		q(`{ incidents(filter:{priority:P1, suppressed:false}) { nodes { number title priorityReason } } }`))
}

// demoPolicy is the default policy with its waiting times compressed like the
// scenario's, so a printer's two-minute hold does not outlast a fast demo.
func demoPolicy(scale float64) *incidents.Policy {
	p := incidents.DefaultPolicy()
	p.Scale(scale)
	return p
}
