package assets

import "time"

// RelationKind is how an asset depends on another.
type RelationKind string

// Relationship kinds (DESIGN §7 uses them for correlation).
const (
	RelConnectedTo    RelationKind = "CONNECTED_TO"    // switch port
	RelPoweredBy      RelationKind = "POWERED_BY"      // UPS
	RelReportsThrough RelationKind = "REPORTS_THROUGH" // HL7 gateway
	RelDependsOn      RelationKind = "DEPENDS_ON"      // anything else, e.g. the collector
)

// RelationKinds lists every kind.
var RelationKinds = []RelationKind{RelConnectedTo, RelPoweredBy, RelReportsThrough, RelDependsOn}

// Relation is an edge from an asset to one it depends on (its upstream).
type Relation struct {
	Kind   RelationKind `bson:"kind" json:"kind"`
	Target string       `bson:"target" json:"target"` // upstream asset id
	Port   string       `bson:"port,omitempty" json:"port,omitempty"`
	Source string       `bson:"source" json:"source"` // LLDP, FDB, HL7, MANUAL, IMPORT, ...
	Since  time.Time    `bson:"since" json:"since"`
}

// Upstream returns the relations of an asset to what it depends on.
func (s *Service) Upstream(id string) []Relation {
	a, ok := s.Get(id)
	if !ok {
		return nil
	}
	return a.Upstream
}

// Dependents returns the ids of assets with a relation to id, in creation order.
func (s *Service) Dependents(id string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.dependents[id]...)
}

// indexRelations rebuilds the dependents of one asset's upstream edges (s.mu held).
func (s *Service) indexRelations(prev, cur *Asset) {
	if prev != nil {
		for _, r := range prev.Upstream {
			list := s.dependents[r.Target]
			for i, id := range list {
				if id == prev.ID {
					list = append(list[:i:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(s.dependents, r.Target)
			} else {
				s.dependents[r.Target] = list
			}
		}
	}
	if cur != nil && cur.MergedInto == "" {
		for _, r := range cur.Upstream {
			if !containsID(s.dependents[r.Target], cur.ID) {
				s.dependents[r.Target] = append(s.dependents[r.Target], cur.ID)
			}
		}
	}
}

func containsID(list []string, id string) bool {
	for _, x := range list {
		if x == id {
			return true
		}
	}
	return false
}
