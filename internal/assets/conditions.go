package assets

import (
	"slices"

	"github.com/medcmdb/medcmdb/internal/discovery"
)

// applyConditions updates a channel's active conditions and state from an observation.
func applyConditions(ch *Channel, o *discovery.Observation) {
	if active, full := o.ActiveConditions(); full {
		cs := slices.Clone(active)
		slices.Sort(cs)
		ch.Conditions = slices.Compact(cs)
		ch.State = string(o.State)
		if len(ch.Conditions) == 0 && o.State != discovery.StateUp && o.Condition != "" {
			ch.Conditions = []string{o.Condition}
		}
		return
	}
	switch {
	case o.State != discovery.StateUp && o.Condition != "":
		if !slices.Contains(ch.Conditions, o.Condition) {
			ch.Conditions = append(ch.Conditions, o.Condition)
			slices.Sort(ch.Conditions)
		}
		if worse(discovery.State(ch.State), o.State) {
			ch.State = string(o.State)
		}
	case o.State == discovery.StateUp && o.Condition != "":
		ch.Conditions = slices.DeleteFunc(ch.Conditions, func(c string) bool { return c == o.Condition })
		ch.State = string(stateOf(ch.Conditions))
	case o.State == discovery.StateUp:
		ch.Conditions = nil
		ch.State = string(discovery.StateUp)
	default:
		if worse(discovery.State(ch.State), o.State) {
			ch.State = string(o.State)
		}
	}
}

// downConditions make a device unusable; any other condition degrades it.
var downConditions = []string{discovery.CondSNMPUnreachable, discovery.CondHL7HeartbeatLost, discovery.CondDeviceUnreachable}

// IsDownCondition reports whether a condition means the device is down.
func IsDownCondition(c string) bool { return slices.Contains(downConditions, c) }

func stateOf(conds []string) discovery.State {
	st := discovery.StateUp
	for _, c := range conds {
		if IsDownCondition(c) {
			return discovery.StateDown
		}
		st = discovery.StateDegraded
	}
	return st
}

func rank(s discovery.State) int {
	switch s {
	case discovery.StateDown:
		return 2
	case discovery.StateDegraded:
		return 1
	}
	return 0
}

// worse reports whether b is a worse state than a.
func worse(a, b discovery.State) bool { return rank(b) > rank(a) }
