package incidents

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Prune removes incidents resolved before the given time from the store and from
// memory (retention). Open incidents, and incidents still holding their dedup key
// (settling), are never pruned; asset history is not touched.
func (e *Engine) Prune(ctx context.Context, before time.Time) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	victims := e.prunable(before)
	if len(victims) == 0 {
		return 0, nil
	}
	if err := e.store.Delete(ctx, victims); err != nil {
		return 0, err
	}
	e.forget(victims)
	return len(victims), nil
}

// ForgetResolved drops from memory, without touching the store, what Prune removes:
// the retention job runs on one replica, and the others follow with this.
func (e *Engine) ForgetResolved(before time.Time) int {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	victims := e.prunable(before)
	e.forget(victims)
	return len(victims)
}

// prunable lists the incidents resolved for good before the given time (e.wmu held).
func (e *Engine) prunable(before time.Time) []*Incident {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var victims []*Incident
	for _, id := range e.order {
		i := e.all[id]
		if i.State == StateResolved && !i.holdsKey() && i.ResolvedAt != nil && i.ResolvedAt.Before(before) {
			victims = append(victims, i)
		}
	}
	return victims
}

// forget drops incidents from memory and its indexes (e.wmu held).
func (e *Engine) forget(victims []*Incident) {
	if len(victims) == 0 {
		return
	}
	gone := map[string]bool{}
	for _, v := range victims {
		gone[v.ID] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.order = slices.DeleteFunc(e.order, func(id string) bool { return gone[id] })
	for id := range gone {
		inc := e.all[id]
		delete(e.all, id)
		if inc.RootID != "" {
			e.linked[inc.RootID] = slices.DeleteFunc(slices.Clone(e.linked[inc.RootID]), func(x string) bool { return x == id })
			if len(e.linked[inc.RootID]) == 0 {
				delete(e.linked, inc.RootID)
			}
		}
		delete(e.linked, id)
	}
}

// Delete removes incidents from their partitions, a batch per partition.
func (s *Store) Delete(ctx context.Context, list []*Incident) error {
	ids := make([]string, len(list))
	for k, i := range list {
		ids[k] = i.ID
	}
	if _, err := s.incidents.DeleteMany(ctx, ids); err != nil {
		return fmt.Errorf("deleting %d incidents: %w", len(ids), err)
	}
	return nil
}
