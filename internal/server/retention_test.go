package server_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/server"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// Issue 16 item 7 through a running cmdb: the retention job (on its schedule, under
// the scheduler's lease) removes the event history older than retention.asset_events
// and keeps the creation record, the status changes and the recent events.
func TestRetentionJobRemovesOldEventHistory(t *testing.T) {
	pol, err := incidents.ParsePolicy([]byte("retention: {schedule: \"@every 1s\", asset_events: 24h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Policy: pol, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	tok, err := os.ReadFile(srv.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	g := &testkit.GraphQL{URL: srv.URL() + "/graphql", Token: strings.TrimSpace(string(tok))}

	now := time.Now().UTC()
	old := now.Add(-72 * time.Hour)
	seq := 0
	ob := func(at time.Time, kind, state string) map[string]any {
		seq++
		o := map[string]any{"id": fmt.Sprintf("c1-boot-%d", seq), "collector": "c1", "site": "main", "observedAt": at, "validUntil": at.Add(time.Hour),
			"source": "SNMP_TRAP", "kind": kind, "address": map[string]any{"ip": "10.1.0.7"},
			"identity": map[string]any{"sysName": "ups-7"}, "state": state}
		if kind == "EVENT" {
			o["condition"] = "snmp.trap"
		} else {
			o["source"], o["conditions"] = "SNMP_POLL", []string{}
		}
		return o
	}
	obs := []map[string]any{ob(old, "CHANGE", "UP")}
	for i := range 40 {
		obs = append(obs, ob(old.Add(time.Duration(i+1)*time.Second), "EVENT", "UP"))
	}
	obs = append(obs, ob(now.Add(-time.Minute), "EVENT", "UP"), ob(now, "EVENT", "UP"))
	var rep struct {
		ReportObservations struct{ Accepted int } `json:"reportObservations"`
	}
	g.Query(t, `mutation($b: ObservationBatch!) { reportObservations(batch: $b) { accepted } }`,
		map[string]any{"b": map[string]any{"collector": "c1", "observations": obs}}, &rep)
	if rep.ReportObservations.Accepted != len(obs) {
		t.Fatalf("accepted %d of %d", rep.ReportObservations.Accepted, len(obs))
	}
	var fields []string
	testkit.Eventually(t, 20*time.Second, func() error {
		var out struct {
			Assets struct {
				Nodes []struct {
					History []struct{ Field string } `json:"history"`
				} `json:"nodes"`
			} `json:"assets"`
		}
		if err := g.Try(`{ assets { nodes { history(first: 100) { field } } } }`, nil, &out); err != nil {
			return err
		}
		if len(out.Assets.Nodes) != 1 {
			return fmt.Errorf("%d assets", len(out.Assets.Nodes))
		}
		fields = fields[:0]
		events := 0
		for _, h := range out.Assets.Nodes[0].History {
			fields = append(fields, h.Field)
			if h.Field == "event" {
				events++
			}
		}
		if events != 2 {
			return fmt.Errorf("%d events in the history, want the 2 recent ones", events)
		}
		return nil
	})
	if fields[len(fields)-1] != "created" || !strings.Contains(strings.Join(fields, ","), "status") {
		t.Errorf("history after retention: %v", fields)
	}
}
