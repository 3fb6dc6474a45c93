package observation

import (
	"strings"
	"testing"
	"time"
)

func TestObservationValidate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := func() Observation {
		return Observation{ID: "c-1", Collector: "c", ObservedAt: now, ValidUntil: now.Add(time.Minute),
			Source: SourceSNMPPoll, State: StateUp, Address: &Address{IP: "10.0.0.1"}}
	}
	if o := good(); o.Validate() != nil {
		t.Fatalf("valid observation rejected: %v", o.Validate())
	}
	cases := []struct {
		mut  func(*Observation)
		want string
	}{
		{func(o *Observation) { o.ID = "" }, "id must be"},
		{func(o *Observation) { o.Collector = "" }, "collector is required"},
		{func(o *Observation) { o.ObservedAt = time.Time{} }, "observedAt"},
		{func(o *Observation) { o.ValidUntil = now.Add(-time.Second) }, "before observedAt"},
		{func(o *Observation) { o.ValidUntil = now.Add(48 * time.Hour) }, "more than"},
		{func(o *Observation) { o.Source = "CARRIER_PIGEON" }, "unknown source"},
		{func(o *Observation) { o.State = "ASLEEP" }, "unknown state"},
		{func(o *Observation) { o.Address = &Address{IP: "not-an-ip"} }, "address.ip"},
		{func(o *Observation) { o.Address = nil }, "no identifier"},
	}
	for _, c := range cases {
		o := good()
		c.mut(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"`+o.ID+`"`) {
			t.Errorf("want error naming the observation and %q, got %v", c.want, err)
		}
	}
}
