package incidents

import (
	"fmt"
	"strings"
)

// Context is what weighting needs to know about the failing device.
type Context struct {
	Class            string
	CareArea         string
	Condition        string
	PatientConnected bool
}

// Weight is a computed priority with its factors.
type Weight struct {
	Impact   int // 1 low .. 3 high
	Urgency  int // 1 low .. 3 high
	Priority Priority
	Reason   string
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

var levelName = map[int]string{1: "low", 2: "medium", 3: "high"}

// matrix is ITIL impact × urgency → priority (DESIGN §6).
func matrix(impact, urgency int) Priority {
	switch impact + urgency {
	case 6:
		return P1
	case 5:
		return P2
	case 4:
		return P3
	case 3:
		return P4
	}
	return P5
}

// Severity returns the severity level of a condition (down, battery, degraded, info).
func (p *Policy) Severity(condition string) string {
	if s, ok := p.ConditionSeverity[condition]; ok {
		return s
	}
	return SeverityDegraded
}

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
	crit := p.Criticality(c.Class)
	impact := level(crit)
	acuity := p.Acuity(c.CareArea)
	sev := p.Severity(c.Condition)
	urgency := level(acuity)
	switch sev {
	case SeverityBattery, SeverityDegraded:
		urgency = max(1, urgency-1)
	case SeverityInfo:
		urgency = 1
	}
	reasons := []string{
		fmt.Sprintf("impact %s: %s criticality %d", levelName[impact], c.Class, crit),
		fmt.Sprintf("urgency %s: care area %s acuity %d, %s is %s", levelName[urgency], orNone(c.CareArea), acuity, c.Condition, sev),
	}
	if c.PatientConnected && sev != SeverityInfo && urgency < 3 {
		urgency++
		reasons = append(reasons, "urgency raised: patient connected")
	}
	pr := matrix(impact, urgency)
	return Weight{Impact: impact, Urgency: urgency, Priority: pr,
		Reason: strings.Join(reasons, "; ") + fmt.Sprintf(" → %s", pr)}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
