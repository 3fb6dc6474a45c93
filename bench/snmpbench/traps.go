package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
)

// traps blasts a burst of v2c traps at the collector's listener as fast as one
// sender goroutine can write them and counts what was received, decoded and turned
// into observations.
func traps(args []string) error {
	fs := newFlagSet("traps")
	n := fs.Int("n", 10000, "traps in the burst")
	fs.Parse(args)
	reg := prometheus.NewRegistry()
	snk := &sink{}
	// One sender on loopback, unlimited: the bench measures decoding, not the guard.
	c, err := newCollector(`traps: {listen: "127.0.0.1:0", accept_from: [any], per_source_rate: 0}
snmp:
  inventory_workers: 0
  credentials: [{name: v2, version: 2c, community: public}]
`, snk, reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	pkt := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: 1,
		Variables: []gosnmp.SnmpPDU{
			{Name: "1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100)},
			{Name: "1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: "1.3.6.1.6.3.1.1.5.3"},
			{Name: "1.3.6.1.2.1.2.2.1.1.7", Type: gosnmp.Integer, Value: 7},
		}}
	b, err := pkt.MarshalMsg()
	if err != nil {
		return err
	}
	conn, err := net.Dial("udp", c.Traps().Addr().String())
	if err != nil {
		return err
	}
	start := time.Now()
	for range *n {
		conn.Write(b)
	}
	sendT := time.Since(start)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && metric(reg, "medcmdb_snmp_traps_total", "result=decoded") < float64(*n) {
		time.Sleep(10 * time.Millisecond)
	}
	all := time.Since(start)
	time.Sleep(time.Second) // reporter flush
	fmt.Printf("traps: burst of %d v2c linkDown traps sent in %.0f ms (%.0f/s); received %.0f, decoded %.0f, dropped %.0f, rejected %.0f; all decoded after %.0f ms; observations delivered %d\n",
		*n, sendT.Seconds()*1000, float64(*n)/sendT.Seconds(),
		metric(reg, "medcmdb_snmp_traps_total", "result=received"), metric(reg, "medcmdb_snmp_traps_total", "result=decoded"),
		metric(reg, "medcmdb_snmp_traps_total", "result=dropped"), metric(reg, "medcmdb_snmp_traps_total", "result=rejected"),
		all.Seconds()*1000, snk.n.Load())
	cancel()
	return <-done
}
