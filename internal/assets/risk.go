package assets

import "time"

// IncidentCounter tells how many incidents an asset had since a time. The incident
// engine satisfies it through a small adapter; assets does not import incidents.
type IncidentCounter interface {
	IncidentsSince(assetID string, since time.Time) int
}

// SetIncidentCounter feeds incident history into risk scores.
func (s *Service) SetIncidentCounter(c IncidentCounter) {
	s.mu.Lock()
	s.counter = c
	s.mu.Unlock()
}

// ManagedThreshold is the equipment-management number from which a device belongs in
// the planned-maintenance programme (Fennigkoh & Smith).
const ManagedThreshold = 12

// IncidentWindow is how far back incident history counts.
const IncidentWindow = 365 * 24 * time.Hour

// Risk is an asset's equipment-management number with its factors (DESIGN §6).
type Risk struct {
	Function        int // 2 (non-patient) .. 10 (life support)
	PhysicalRisk    int // 1 (none) .. 5 (patient death)
	Maintenance     int // 1 (minimal) .. 5 (extensive)
	IncidentHistory int // 0 (none in a year), 1 (one or two), 2 (three or more)
	Incidents       int // incidents in IncidentWindow
	Score           int
	Managed         bool // Score >= ManagedThreshold
}

// Risk computes the equipment-management number of an asset now.
func (s *Service) Risk(a *Asset) Risk {
	s.mu.RLock()
	c := s.counter
	s.mu.RUnlock()
	n := 0
	if c != nil {
		n = c.IncidentsSince(a.ID, s.opts.Now().Add(-IncidentWindow))
	}
	return riskOf(a.Class, n)
}

func riskOf(c Class, incidents int) Risk {
	var r Risk
	r.Function, r.PhysicalRisk, r.Maintenance = riskFactors(c)
	r.Incidents = incidents
	switch {
	case incidents >= 3:
		r.IncidentHistory = 2
	case incidents >= 1:
		r.IncidentHistory = 1
	}
	r.Score = r.Function + r.PhysicalRisk + r.Maintenance + r.IncidentHistory
	r.Managed = r.Score >= ManagedThreshold
	return r
}

// RiskScore is the stored equipment-management number: function + physical risk +
// maintenance by class, without incident history (which changes without the asset
// changing; Service.Risk adds it when read).
func RiskScore(a *Asset) int { return riskOf(a.Class, 0).Score }

// riskFactors returns function (2..10), physical risk (1..5) and maintenance (1..5)
// by class, after Fennigkoh & Smith's tables.
func riskFactors(c Class) (function, physical, maintenance int) {
	switch c {
	case ClassVentilator, ClassAnesthesiaMachine:
		return 10, 5, 5 // life support; death on failure; extensive maintenance
	case ClassInfusionPump:
		return 9, 5, 4 // therapeutic; overdose can kill; above-average maintenance
	case ClassPatientMonitor:
		return 7, 3, 3 // intensive-care monitoring; missed diagnosis
	case ClassImaging:
		return 6, 3, 5 // diagnostic; misdiagnosis; extensive maintenance
	case ClassLabAnalyzer:
		return 5, 3, 4 // analytical; wrong result
	case ClassNetworkSwitch, ClassRouter, ClassWirelessAP, ClassHL7Gateway, ClassUPS:
		return 3, 2, 2 // computer-related; risk inherited through what depends on it
	case ClassServer, ClassWorkstation, ClassPrinter:
		return 2, 1, 2
	}
	return 2, 1, 1
}
