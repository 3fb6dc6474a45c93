package incidents

import (
	"fmt"
	"slices"
	"strings"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// Context is what weighting needs to know about the failing device.
type Context struct {
	Class     string
	CareArea  string
	Condition string
	// Infrastructure is true for classes that carry other devices' traffic or power.
	Infrastructure   bool
	PatientConnected bool
	// FreeSpares counts devices of the same class in the same unit that are
	// operational and not bound to a patient.
	FreeSpares int
	// Dependents are the devices that depend on this one, transitively (for
	// infrastructure: its blast radius). Their Condition is ignored: each is weighed
	// as if it suffered this device's condition.
	Dependents []Context
}

// Weight is a computed priority with its factors.
type Weight struct {
	Impact   int // 1 low .. 3 high
	Urgency  int // 1 low .. 3 high
	Priority Priority
	Reason   string
	// Worst names the most critical dependent (blast radius), e.g.
	// "P1: PATIENT_MONITOR in ICU"; empty without dependents.
	Worst string
}

// level maps a 1..5 score to low (1), medium (2) or high (3).
func level(score int) int {
	switch {
	case score >= 4:
		return 3
	case score == 3:
		return 2
	}
	return 1
}

func levelName(l int) string { return levelNames[min(max(l, 1), 3)-1] }

// matrix is impact × urgency → priority from the policy (DESIGN §6 by default).
func (p *Policy) matrix(impact, urgency int) Priority {
	if pr, ok := p.Matrix[levelName(impact)][levelName(urgency)]; ok {
		return pr
	}
	return P3
}

// Severity returns the severity of a condition: the policy's re-rating, or the
// condition's own definition (observation.DefaultConditions).
func (p *Policy) Severity(condition string) observation.Severity {
	if s, ok := p.ConditionSeverity[condition]; ok {
		return s
	}
	return defaultConditions.Severity(condition)
}

// Conditions returns the definition of conditions under this policy, for the asset
// registry to derive status from the same definition the engine weighs by.
func (p *Policy) Conditions() *observation.Registry {
	r, err := defaultConditions.WithSeverities(p.ConditionSeverity)
	if err != nil {
		// Validate refuses an unknown severity; an unvalidated policy keeps the
		// built-in definitions rather than fail here.
		return defaultConditions
	}
	return r
}

// defaultConditions is immutable, so one value serves every policy.
var defaultConditions = observation.DefaultConditions()

// Acuity returns the acuity of a care area.
func (p *Policy) Acuity(careArea string) int {
	if v, ok := p.CareAreaAcuity[strings.ToUpper(careArea)]; ok {
		return v
	}
	return p.DefaultAcuity
}

// Criticality returns the criticality of a device class.
func (p *Policy) Criticality(class string) int {
	if v, ok := p.ClassCriticality[class]; ok {
		return v
	}
	return 2
}

// Weigh computes impact, urgency and priority, and says why.
func (p *Policy) Weigh(c Context) Weight {
	w, reasons := p.weighOwn(c)
	if len(c.Dependents) > 0 {
		var worst *Weight
		var worstCtx Context
		for _, d := range c.Dependents {
			d.Condition = c.Condition
			d.Dependents = nil
			dw, _ := p.weighOwn(d)
			if worst == nil || worse(dw, *worst) {
				worst, worstCtx = &dw, d
			}
		}
		w.Worst = fmt.Sprintf("%s: %s in %s", worst.Priority, worstCtx.Class, orNone(worstCtx.CareArea))
		if worst.Impact > w.Impact || worst.Urgency > w.Urgency {
			w.Impact = max(w.Impact, worst.Impact)
			w.Urgency = max(w.Urgency, worst.Urgency)
			reasons = append(reasons, fmt.Sprintf("blast radius: %d dependent devices, worst %s (impact %s, urgency %s) → impact %s, urgency %s",
				len(c.Dependents), w.Worst, levelName(worst.Impact), levelName(worst.Urgency), levelName(w.Impact), levelName(w.Urgency)))
		} else {
			reasons = append(reasons, fmt.Sprintf("blast radius: %d dependent devices, none worse (worst %s)", len(c.Dependents), w.Worst))
		}
	} else if c.Infrastructure {
		reasons = append(reasons, "blast radius: no known dependents")
	}
	w.Priority = p.matrix(w.Impact, w.Urgency)
	w.Reason = strings.Join(reasons, "; ") + fmt.Sprintf(" → %s", w.Priority)
	return w
}

// weighOwn weighs the device by itself, without its blast radius.
func (p *Policy) weighOwn(c Context) (Weight, []string) {
	crit := p.Criticality(c.Class)
	impact := level(crit)
	acuity := p.Acuity(c.CareArea)
	sev := p.Severity(c.Condition)
	urgency := level(acuity)
	switch sev {
	case observation.SeverityBattery, observation.SeverityDegraded:
		urgency = max(1, urgency-1)
	case observation.SeverityInfo:
		urgency = 1
	}
	reasons := []string{
		fmt.Sprintf("impact %s: %s criticality %d", levelName(impact), c.Class, crit),
		fmt.Sprintf("urgency %s: care area %s acuity %d, %s is %s", levelName(urgency), orNone(c.CareArea), acuity, c.Condition, sev),
	}
	if n := p.PatientConnected.Levels; c.PatientConnected && sev != observation.SeverityInfo && n > 0 && urgency < 3 {
		urgency = min(3, urgency+n)
		reasons = append(reasons, "urgency raised to "+levelName(urgency)+": patient connected")
	}
	// A free spare makes a failure less urgent, unless a patient is on the device:
	// then someone must swap it now, spare or not.
	r := p.Redundancy
	if !c.Infrastructure && !c.PatientConnected && r.Levels > 0 && c.FreeSpares >= r.MinFreeSpares && sev != observation.SeverityInfo && urgency > 1 {
		urgency = max(1, urgency-r.Levels)
		reasons = append(reasons, fmt.Sprintf("urgency lowered to %s: %d spare %s free in the unit", levelName(urgency), c.FreeSpares, c.Class))
	}
	pr := p.matrix(impact, urgency)
	return Weight{Impact: impact, Urgency: urgency, Priority: pr}, reasons
}

// worse reports whether a is more urgent than b: by priority, then impact.
func worse(a, b Weight) bool {
	ra, rb := slices.Index(Priorities, a.Priority), slices.Index(Priorities, b.Priority)
	if ra != rb {
		return ra < rb
	}
	return a.Impact > b.Impact
}

// PriorityRank orders priorities: 0 for P1 .. 4 for P5 (-1 if unknown).
func PriorityRank(p Priority) int { return slices.Index(Priorities, p) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
