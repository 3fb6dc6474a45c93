package assets

// RiskScore is the Fennigkoh–Smith style equipment-management number (DESIGN §6):
// function + physical risk + maintenance requirement (+ incident history, added by the
// incident engine's view). 12 or more means "in the managed programme".
func RiskScore(a *Asset) int {
	f, p, m := riskFactors(a.Class)
	return f + p + m
}

// riskFactors returns function (2..10), physical risk (1..5) and maintenance (1..5)
// by class, after Fennigkoh & Smith's tables.
func riskFactors(c Class) (function, physical, maintenance int) {
	switch c {
	case ClassVentilator, ClassAnesthesiaMachine:
		return 10, 5, 5
	case ClassInfusionPump:
		return 9, 5, 4
	case ClassPatientMonitor:
		return 7, 3, 3
	case ClassImaging:
		return 6, 3, 5
	case ClassLabAnalyzer:
		return 5, 2, 4
	case ClassNetworkSwitch, ClassRouter, ClassWirelessAP, ClassHL7Gateway, ClassUPS:
		return 3, 2, 2
	case ClassServer, ClassWorkstation:
		return 2, 1, 2
	case ClassPrinter:
		return 2, 1, 2
	}
	return 2, 1, 1
}
