package server

import (
	"math"
	"time"

	"github.com/medcmdb/medcmdb/internal/incidents"
)

// incidentHistory feeds the incident count of an asset into its risk score
// (assets.IncidentCounter), so that assets need not import incidents.
type incidentHistory struct {
	incidents interface {
		List(f incidents.Filter, offset, limit int) ([]*incidents.Incident, int)
	}
}

func (h incidentHistory) IncidentsSince(assetID string, since time.Time) int {
	list, _ := h.incidents.List(incidents.Filter{AssetID: assetID}, 0, math.MaxInt)
	n := 0
	for _, i := range list {
		if !i.OpenedAt.Before(since) {
			n++
		}
	}
	return n
}
