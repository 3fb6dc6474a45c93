// Command devicesim runs a simulated hospital: up to hundreds of thousands of SNMP
// agents on 127.x addresses, one UDP socket, with a scenario of failures and an HTTP
// control endpoint. The logic lives in internal/devicesim.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/cli"
	"github.com/medcmdb/medcmdb/internal/devicesim"
)

var started = time.Now()

type flags struct {
	devices        int
	seed           uint64
	listen         string
	base           string
	spacing        int
	anyInterface   bool
	communities    string
	control        string
	scenario       string
	timeScale      float64
	traps          multi
	trapVersion    string
	trapCommunity  string
	trapUser       string
	maxMessageSize int
	hl7            string
	hl7Interval    time.Duration
	hl7Conns       int
	printRanges    bool
	list           bool
	log            cli.LogFlags
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		cli.Fail("devicesim", err)
	}
}

func run(args []string) error {
	var f flags
	fs := flag.NewFlagSet("devicesim", flag.ContinueOnError)
	fs.IntVar(&f.devices, "devices", 1000, "number of simulated devices (SNMP agents)")
	fs.Uint64Var(&f.seed, "seed", 1, "layout seed: same seed and size, same hospital")
	fs.StringVar(&f.listen, "listen", "0.0.0.0:1161", "UDP address every agent answers on (port 0: any free port)")
	fs.StringVar(&f.base, "base", "127.10.0.0", "first address of the simulated devices (in 127.0.0.0/8)")
	fs.IntVar(&f.spacing, "spacing", 1, "addresses between two devices of a unit (16: one agent in 16 addresses, for sweeps)")
	fs.BoolVar(&f.anyInterface, "any-interface", false, "answer on every interface, not only loopback")
	fs.StringVar(&f.communities, "communities", "public", "accepted v1/v2c communities, comma-separated")
	fs.StringVar(&f.control, "control-listen", "127.0.0.1:8161", "HTTP control endpoint (loopback only; empty: none)")
	fs.StringVar(&f.scenario, "scenario", "", `scenario to play: a YAML file, "default" for the built-in one, empty for none`)
	fs.Float64Var(&f.timeScale, "time-scale", 1, "multiply scenario times by this (0.5: twice as fast)")
	fs.Var(&f.traps, "trap-receiver", "send notifications to HOST:PORT (repeatable)")
	fs.StringVar(&f.trapVersion, "trap-version", "2c", "notification version: 1, 2c or 3")
	fs.StringVar(&f.trapCommunity, "trap-community", "public", "community of v1/v2c notifications")
	fs.StringVar(&f.trapUser, "trap-user", "biomed", "v3 user of notifications (one of the simulator's users)")
	fs.IntVar(&f.maxMessageSize, "max-message-size", 8192, "largest response, in bytes")
	fs.StringVar(&f.hl7, "hl7", "", "send the HL7 devices' messages over MLLP to HOST:PORT (a collector's hl7.listen); empty: none")
	fs.DurationVar(&f.hl7Interval, "hl7-interval", 10*time.Second, "how often each HL7 device sends its periodic message")
	fs.IntVar(&f.hl7Conns, "hl7-conns-per-gateway", 2, "MLLP connections each HL7 gateway spreads its devices over")
	fs.BoolVar(&f.printRanges, "print-ranges", false, "print collector ranges (YAML) for the hospital and exit")
	fs.BoolVar(&f.list, "list", false, "print the devices (tab-separated) and exit")
	f.log.Register(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	base, err := netip.ParseAddr(f.base)
	if err != nil {
		return fmt.Errorf("--base %q: %w", f.base, err)
	}
	h, err := devicesim.Generate(devicesim.LayoutOptions{Seed: f.seed, Devices: f.devices, Base: base, Spacing: f.spacing})
	if err != nil {
		return err
	}
	if f.list {
		fmt.Println("name\tip\tclass\tmanufacturer\tmodel\tserial\tmac\teui64\tunit\tcare_area")
		for _, d := range h.Devices {
			fmt.Printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.IP(), d.Class, d.Model.Manufacturer,
				d.Model.Name, d.Serial, d.MACString(), d.EUI64(), d.Unit.Name, d.Unit.CareArea)
		}
		return nil
	}
	var sc *devicesim.Scenario
	switch f.scenario {
	case "":
	case "default":
		sc = devicesim.DefaultScenario()
	default:
		if sc, err = devicesim.LoadScenario(f.scenario); err != nil {
			return err
		}
	}
	if sc != nil {
		if err := sc.Validate(h); err != nil {
			return fmt.Errorf("scenario: %w", err)
		}
	}
	var traps []devicesim.TrapTarget
	for _, t := range f.traps {
		ap, err := netip.ParseAddrPort(t)
		if err != nil {
			return fmt.Errorf("--trap-receiver %q: want IP:port", t)
		}
		traps = append(traps, devicesim.TrapTarget{Addr: ap, Version: f.trapVersion, Community: f.trapCommunity, User: f.trapUser})
	}
	sim, err := devicesim.New(h, devicesim.Config{
		Listen: f.listen, AnyInterface: f.anyInterface, Communities: strings.Split(f.communities, ","),
		Traps: traps, MaxMessageSize: f.maxMessageSize, Logger: log,
	})
	if err != nil {
		return err
	}
	if f.printRanges {
		sim.Close()
		fmt.Print(h.CollectorRanges(sim.Port()))
		return nil
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	var ctl *devicesim.Control
	if f.control != "" {
		if ctl, err = devicesim.NewControl(sim, f.control); err != nil {
			sim.Close()
			return err
		}
	}

	var senders *devicesim.HL7
	if f.hl7 != "" {
		if senders, err = devicesim.NewHL7(sim, devicesim.HL7Config{Addr: f.hl7, Interval: f.hl7Interval,
			ConnsPerGateway: f.hl7Conns, Logger: log}); err != nil {
			sim.Close()
			return err
		}
	}

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Go(func() { errc <- sim.Run(ctx) })
	if senders != nil {
		wg.Go(func() { errc <- senders.Run(ctx) })
	}
	if ctl != nil {
		wg.Go(func() { errc <- ctl.Run(ctx) })
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	log.Info("devicesim ready", "devices", len(h.Devices), "units", len(h.Units), "sites", len(h.Sites),
		"snmp", sim.Addr().String(), "control", controlURL(ctl), "startup", time.Since(started).Round(time.Millisecond),
		"heap_mib", ms.HeapAlloc>>20)
	if sc != nil {
		wg.Go(func() {
			if err := sim.RunScenario(ctx, sc, f.timeScale); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	sim.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func controlURL(c *devicesim.Control) string {
	if c == nil {
		return "none"
	}
	return c.URL()
}
