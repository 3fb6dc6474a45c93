package assets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// A collector is itself an asset (class COLLECTOR), so that a silent collector is an
// incident with the same lifecycle, weighting, notification and board as any failed
// device (DESIGN §3). Its state lives on one channel written by the cmdb's collector
// tracker, not by the collector: a collector cannot report its own silence.

// CollectorChannel is the channel (of collector "cmdb") carrying a collector's liveness.
const CollectorChannel = "collector"

// collectorActor names the cmdb as the source of the collector channel.
const collectorActor = "cmdb"

// liveForever is the validity of the collector channel: it never expires by itself,
// only the tracker changes it (a collector is never UNKNOWN, it is heard or silent).
var liveForever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func collectorKey(name string) string {
	if n := norm(name); n != "" {
		return "collector:" + n
	}
	return ""
}

// Collector returns the record of the collector reporting as name.
func (s *Service) Collector(name string) (*Asset, bool) {
	k := collectorKey(name)
	if k == "" {
		return nil, false
	}
	s.wmu.Lock()
	id, ok := s.ix.lookup(key{RankCollector, k})
	s.wmu.Unlock()
	if !ok {
		return nil, false
	}
	return s.Get(id)
}

// CollectorSilent reports whether the record of collector name says it is silent;
// known is false when there is no record yet.
func (s *Service) CollectorSilent(name string) (silent, known bool) {
	a, ok := s.Collector(name)
	if !ok {
		return false, false
	}
	return slices.Contains(a.ActiveConditions(), observation.CondCollectorSilent), true
}

// SetCollectorState records that collector name (of site) is heard or silent as of at,
// creating its record on first sight. Nothing is written when nothing changed. The
// outcome goes to the incident engine like any observation's.
func (s *Service) SetCollectorState(ctx context.Context, name, site string, silent bool, at time.Time) (Outcome, error) {
	k := collectorKey(name)
	if k == "" {
		return Outcome{}, errors.New("collector record: empty collector name")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.newBatch()
	var a *Asset
	out := Outcome{}
	if id, ok := s.ix.lookup(key{RankCollector, k}); ok {
		a = b.get(id)
	} else {
		newID := newID(b.now)
		owner, err := s.store.Claim(ctx, k, newID)
		if err != nil {
			return out, err
		}
		if owner != newID {
			// Another replica created the record first.
			loaded, err := s.store.Load(ctx, owner)
			if err != nil {
				return out, fmt.Errorf("collector %s: %w", name, err)
			}
			s.adopt(loaded)
			a = b.get(owner)
		} else {
			a = &Asset{
				ID: newID, Name: name, CollectorName: name, Class: ClassCollector, Status: StatusUnknown,
				IPAddresses: []string{}, MACAddresses: []string{}, Sources: []string{},
				FirstSeenAt: at, Site: site, Authority: map[string]Authority{},
			}
			b.work[a.ID] = a
			b.prev[a.ID] = 0
			b.order = append(b.order, a.ID)
			b.record(a, Change{At: at, Source: "COLLECTOR", Actor: collectorActor, Field: "created", After: "collector " + name + " reporting"})
			out.Created = true
		}
	}
	out.StatusBefore = a.Status
	if out.Created {
		out.StatusBefore = ""
	}
	before := a.ActiveConditions()
	ch := a.channel(collectorActor, CollectorChannel)
	if ch == nil {
		ch = &Channel{Collector: collectorActor, Channel: CollectorChannel}
		a.Channels = append(a.Channels, ch)
		b.persist[a.ID] = true
	}
	state, conds := string(observation.StateUp), []string(nil)
	if silent {
		state, conds = string(observation.StateDown), []string{observation.CondCollectorSilent}
	}
	if ch.State != state || !slices.Equal(ch.Conditions, conds) {
		ch.State, ch.Conditions, ch.ObservedAt = state, conds, at
		b.persist[a.ID] = true
	}
	ch.ValidUntil = liveForever
	if a.Site == "" && site != "" {
		b.record(a, Change{At: at, Source: "COLLECTOR", Actor: collectorActor, Field: "site", After: site})
		a.Site = site
	}
	if !silent && at.After(a.LastSeenAt) {
		a.LastSeenAt = at
		if a.LastSeenAt.Sub(a.persistedSeen) >= s.opts.SeenResolution {
			b.persist[a.ID] = true
		}
	}
	if st := computeStatus(a, b.now, s.statusRule()); st != a.Status {
		b.record(a, Change{At: at, Source: "COLLECTOR", Actor: collectorActor, Field: "status", Before: string(a.Status), After: string(st)})
		a.Status = st
	}
	out.Raised, out.Cleared = diff(before, a.ActiveConditions())
	if !b.persist[a.ID] {
		s.mu.RLock()
		out.Asset = s.assets[a.ID]
		s.mu.RUnlock()
		out.Duplicate = true
		return out, nil
	}
	if out.Created {
		s.ix.add(a)
	}
	if err := s.persist(ctx, b); err != nil {
		s.rebuildIndex()
		return Outcome{}, err
	}
	s.publish(b)
	out.Asset = s.assets[a.ID]
	return out, nil
}

// adopt puts a record another replica wrote into the working set (wmu held).
func (s *Service) adopt(a *Asset) {
	s.mu.Lock()
	prev, ok := s.assets[a.ID]
	if !ok {
		s.order = append(s.order, a.ID)
	}
	s.indexRelations(prev, a)
	s.assets[a.ID] = a
	s.mu.Unlock()
	if prev != nil && prev.MergedInto == "" {
		s.ix.remove(prev)
	}
	if a.MergedInto == "" {
		s.ix.add(a)
	}
}
