package assets

import (
	"slices"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// applyConditions updates a channel's active conditions and state from an observation.
func applyConditions(ch *Channel, o *observation.Observation, conds *observation.Registry) {
	if active, full := o.ActiveConditions(); full {
		cs := slices.Clone(active)
		slices.Sort(cs)
		ch.Conditions = slices.Compact(cs)
		ch.State = string(o.State)
		if len(ch.Conditions) == 0 && o.State != observation.StateUp && o.Condition != "" {
			ch.Conditions = []string{o.Condition}
		}
		return
	}
	switch {
	case o.State != observation.StateUp && o.Condition != "":
		if !slices.Contains(ch.Conditions, o.Condition) {
			ch.Conditions = append(ch.Conditions, o.Condition)
			slices.Sort(ch.Conditions)
		}
		if worse(observation.State(ch.State), o.State) {
			ch.State = string(o.State)
		}
	case o.State == observation.StateUp && o.Condition != "":
		ch.Conditions = slices.DeleteFunc(ch.Conditions, func(c string) bool { return c == o.Condition })
		ch.State = string(conds.State(ch.Conditions))
	case o.State == observation.StateUp:
		ch.Conditions = nil
		ch.State = string(observation.StateUp)
	default:
		if worse(observation.State(ch.State), o.State) {
			ch.State = string(o.State)
		}
	}
}

// channelState is the state of a channel: what its active conditions mean by the
// definition of conditions in force, or the state its last observation reported when
// none is active (a DOWN without a condition code).
func channelState(ch *Channel, conds *observation.Registry) observation.State {
	if len(ch.Conditions) > 0 {
		return conds.State(ch.Conditions)
	}
	return observation.State(ch.State)
}

func rank(s observation.State) int {
	switch s {
	case observation.StateDown:
		return 2
	case observation.StateDegraded:
		return 1
	}
	return 0
}

// worse reports whether b is a worse state than a.
func worse(a, b observation.State) bool { return rank(b) > rank(a) }
