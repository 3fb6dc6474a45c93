package assets_test

import (
	"context"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// An asset's status reads the same definition of conditions the incident policy
// weighs by: re-rating a condition below down makes its device DEGRADED, not DOWN.
func TestStatusFollowsTheDefinitionOfConditions(t *testing.T) {
	rerated, err := observation.DefaultConditions().WithSeverities(map[string]observation.Severity{
		observation.CondHL7HeartbeatLost: observation.SeverityDegraded,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		conds *observation.Registry
		want  assets.Status
	}{
		{"built-in", nil, assets.StatusDown},
		{"re-rated", rerated, assets.StatusDegraded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := t0
			svc, err := assets.NewService(ctx, assets.NewMemStore(), assets.Options{Logger: testkit.Logger(), Now: func() time.Time { return now }, Conditions: tc.conds})
			if err != nil {
				t.Fatal(err)
			}
			hl7 := func(id string, state observation.State, conds []string) observation.Observation {
				now = now.Add(time.Second)
				return observation.Observation{ID: id, Collector: "c1", Site: "main", ObservedAt: now, ValidUntil: now.Add(time.Hour),
					Source: observation.SourceHL7, Kind: observation.KindChange, State: state, Conditions: conds,
					Identity: observation.Identity{EUI64: "0012A1FFFE001234", HL7App: "MON"}}
			}
			if _, err := svc.Apply(ctx, []observation.Observation{hl7("c1-b-1", observation.StateUp, []string{})}, "r"); err != nil {
				t.Fatal(err)
			}
			outs, err := svc.Apply(ctx, []observation.Observation{hl7("c1-b-2", observation.StateDown, []string{observation.CondHL7HeartbeatLost})}, "r")
			if err != nil {
				t.Fatal(err)
			}
			if got := outs[0].Asset.Status; got != tc.want {
				t.Errorf("status with heartbeat lost = %s, want %s", got, tc.want)
			}
		})
	}
}
