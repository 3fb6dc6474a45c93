package incidents

import "time"

// action is what one step of an (asset, condition) does; several can combine (a
// reopen of a flapping incident, a mark-flapping then an auto-resolve).
type action uint8

const (
	actReopen       action = 1 << iota // the settling incident holding the key is reopened
	actMarkFlapping                    // the incident holding the key is marked flapping
	actOpen                            // a new incident opens (flapping when the tracker flaps)
	actAutoResolve                     // the incident holding the key resolves on its own
	actForget                          // the tracker is dropped: clear, no incident, no edges
)

// stepFacts are what decides a step: the tracker, the incident holding the key,
// the quiet flag and the policy's settings for the asset's class.
type stepFacts struct {
	on  bool // the condition is active
	now time.Time
	// The tracker.
	since, clearSince time.Time
	edges             int
	// The incident holding the key, if any.
	holder, settling, holderFlapping bool
	// quiet: resolved by hand while active, not reopened until it clears.
	quiet bool
	// The policy for the class: hold before opening, hold before resolving, flap
	// detection.
	hold, recoveryHold, flapStable time.Duration
	flapThreshold                  int
	// consequence reports whether an upstream failure explains the condition (asked
	// only when the hold has not run out).
	consequence func() bool
}

// decide returns the transition of a step: a pure function, table-tested
// (decide_test.go); Engine.step gathers the facts and carries the actions out.
func decide(f stepFacts) action {
	flapping := f.edges >= f.flapThreshold
	if f.on {
		if f.holder {
			var act action
			if f.settling {
				act |= actReopen
			}
			if flapping && !f.holderFlapping {
				act |= actMarkFlapping
			}
			return act
		}
		if f.quiet {
			return 0
		}
		if flapping || f.now.Sub(f.since) >= f.hold {
			return actOpen
		}
		// The hold keeps blips from reaching the service desk; a consequence of an
		// upstream failure never reaches it anyway, so it is recorded at once.
		if f.consequence != nil && f.consequence() {
			return actOpen
		}
		return 0
	}
	if !f.holder || f.settling {
		if !f.holder && f.edges == 0 {
			return actForget
		}
		return 0
	}
	var act action
	isFlapping := f.holderFlapping
	if flapping && !f.holderFlapping {
		act |= actMarkFlapping
		isFlapping = true
	}
	hold := f.recoveryHold
	if isFlapping {
		hold = max(hold, f.flapStable)
	}
	if f.now.Sub(f.clearSince) >= hold {
		act |= actAutoResolve
	}
	return act
}
