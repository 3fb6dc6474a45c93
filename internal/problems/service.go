package problems

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/store"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	// ErrInvalid is a change the problem's state does not allow.
	ErrInvalid = errors.New("invalid problem change")
	// ErrConflict means another replica changed the problem first; retry.
	ErrConflict = errors.New("problem changed concurrently")
)

// Incidents is what problem detection reads of the incident engine.
type Incidents interface {
	List(f incidents.Filter, offset, limit int) ([]*incidents.Incident, int)
	Get(id string) (*incidents.Incident, bool)
}

// Assets is what problem detection reads of the asset registry.
type Assets interface {
	Get(id string) (*assets.Asset, bool)
}

// Options are the service's collaborators.
type Options struct {
	Policy *incidents.Policy
	Logger *slog.Logger
	Now    func() time.Time
}

// Service keeps the problems: detection, links, closing.
type Service struct {
	db        *store.Store
	col       *mongo.Collection
	keys      *mongo.Collection
	counters  *mongo.Collection
	versioned bool
	incidents Incidents
	assets    Assets
	policy    *incidents.Policy
	log       *slog.Logger
	now       func() time.Time

	wmu sync.Mutex // serialises writers

	mu         sync.RWMutex
	all        map[string]*Problem // published values are never modified
	order      []string            // ids in opening order
	open       map[string]string   // key -> id of the open problem
	byIncident map[string][]string // incident id -> problem ids
}

// Open loads the problems.
func Open(ctx context.Context, st *store.Store, inc Incidents, ast Assets, o Options) (*Service, error) {
	if o.Policy == nil {
		o.Policy = incidents.DefaultPolicy()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{db: st, col: st.DB.Collection("problems"), keys: st.DB.Collection("problem_keys"),
		counters: st.DB.Collection("counters"), versioned: !st.Embedded,
		incidents: inc, assets: ast, policy: o.Policy, log: o.Logger.With("component", "problems"), now: o.Now}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads every problem again: another replica may have changed some.
func (s *Service) Reload(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.reload(ctx)
}

// reload is Reload with s.wmu held (or before the service is shared).
func (s *Service) reload(ctx context.Context) error {
	cur, err := s.col.Find(ctx, bson.M{})
	if err != nil {
		return fmt.Errorf("loading problems: %w", err)
	}
	var list []*Problem
	if err := cur.All(ctx, &list); err != nil {
		return fmt.Errorf("loading problems: %w", err)
	}
	slices.SortFunc(list, func(a, b *Problem) int { return a.OpenedAt.Compare(b.OpenedAt) })
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all, s.order, s.open, s.byIncident = map[string]*Problem{}, nil, map[string]string{}, map[string][]string{}
	for _, p := range list {
		s.publishLocked(p)
	}
	return nil
}

// publishLocked swaps a problem into the cache and its indexes (s.mu held).
func (s *Service) publishLocked(p *Problem) {
	prev, ok := s.all[p.ID]
	if !ok {
		s.order = append(s.order, p.ID)
	}
	if prev != nil {
		for _, id := range prev.IncidentIDs {
			s.byIncident[id] = slices.DeleteFunc(slices.Clone(s.byIncident[id]), func(x string) bool { return x == p.ID })
			if len(s.byIncident[id]) == 0 {
				delete(s.byIncident, id)
			}
		}
		if s.open[prev.Key] == prev.ID {
			delete(s.open, prev.Key)
		}
	}
	s.all[p.ID] = p
	for _, id := range p.IncidentIDs {
		s.byIncident[id] = append(s.byIncident[id], p.ID)
	}
	if p.Open() {
		s.open[p.Key] = p.ID
	}
}

func (s *Service) publish(p *Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishLocked(p)
}

// Get returns a problem by id.
func (s *Service) Get(id string) (*Problem, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.all[id]
	return p, ok
}

// ForIncident returns the problems an incident is linked to.
func (s *Service) ForIncident(incidentID string) []*Problem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Problem
	for _, id := range s.byIncident[incidentID] {
		out = append(out, s.all[id])
	}
	return out
}

// List returns matching problems, newest first: the page [offset, offset+limit) and
// the total count.
func (s *Service) List(f Filter, offset, limit int) ([]*Problem, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var page []*Problem
	total := 0
	for k := len(s.order) - 1; k >= 0; k-- {
		p := s.all[s.order[k]]
		if !f.match(p) {
			continue
		}
		if total >= offset && len(page) < limit {
			page = append(page, p)
		}
		total++
	}
	return page, total
}

// OpenCounts returns the number of open problems per scope (metrics).
func (s *Service) OpenCounts() map[Scope]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[Scope]int{ScopeAsset: 0, ScopeModel: 0}
	for _, id := range s.open {
		out[s.all[id].Scope]++
	}
	return out
}

func newID(now time.Time) string {
	b := make([]byte, 5)
	rand.Read(b)
	return "p" + strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b)
}

func (s *Service) nextNumber(ctx context.Context) (string, error) {
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	err := s.counters.FindOneAndUpdate(ctx, bson.M{"_id": "problem"}, bson.M{"$inc": bson.M{"seq": 1}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	if err != nil {
		return "", fmt.Errorf("numbering problem: %w", err)
	}
	return fmt.Sprintf("PRB%07d", doc.Seq), nil
}

// insert claims the problem's key and writes it. A key another replica claimed first
// reports false: that replica's problem is loaded on the next reload.
func (s *Service) insert(ctx context.Context, p *Problem) (bool, error) {
	_, err := s.keys.InsertOne(ctx, bson.M{"_id": p.Key, "problemId": p.ID})
	if store.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming problem key %s: %w", p.Key, err)
	}
	if _, err := s.col.InsertOne(ctx, p); err != nil {
		_, _ = s.keys.DeleteOne(ctx, bson.M{"_id": p.Key})
		return false, fmt.Errorf("inserting problem %s: %w", p.Number, err)
	}
	s.publish(p)
	return true, nil
}

// save writes p over its stored predecessor prev and publishes it.
func (s *Service) save(ctx context.Context, p, prev *Problem) (*Problem, error) {
	p.Version = prev.Version + 1
	p.UpdatedAt = s.now().UTC()
	filter := bson.M{"_id": p.ID}
	if s.versioned {
		filter["version"] = prev.Version
	}
	res, err := s.col.ReplaceOne(ctx, filter, p)
	if err != nil {
		return nil, fmt.Errorf("saving problem %s: %w", p.Number, err)
	}
	if res.MatchedCount == 0 {
		_ = s.reload(ctx)
		return nil, fmt.Errorf("problem %s: %w", p.Number, ErrConflict)
	}
	if prev.Open() && !p.Open() {
		if _, err := s.keys.DeleteOne(ctx, bson.M{"_id": p.Key}); err != nil {
			s.log.Warn("releasing problem key", "problem", p.Number, "err", err)
		}
	}
	s.publish(p)
	return p, nil
}

func (s *Service) get(id string) (*Problem, error) {
	if p, ok := s.Get(id); ok {
		return p, nil
	}
	return nil, fmt.Errorf("problem %q: %w", id, ErrNotFound)
}

// Link adds an incident to a problem by hand (even one closed: a late finding).
func (s *Service) Link(ctx context.Context, problemID, incidentID, actor string) (*Problem, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(problemID)
	if err != nil {
		return nil, err
	}
	inc, ok := s.incidents.Get(incidentID)
	if !ok {
		return nil, fmt.Errorf("incident %q: %w", incidentID, ErrNotFound)
	}
	if slices.Contains(cur.IncidentIDs, incidentID) {
		return cur, nil
	}
	p := cur.Clone()
	p.Unlinked = slices.DeleteFunc(p.Unlinked, func(x string) bool { return x == incidentID })
	s.add(p, inc)
	s.log.Info("incident linked to problem", "problem", p.Number, "incident", inc.Number, "by", actor)
	return s.save(ctx, p, cur)
}

// Unlink takes an incident out of a problem; detection will not link it again.
func (s *Service) Unlink(ctx context.Context, problemID, incidentID, actor string) (*Problem, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(problemID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(cur.IncidentIDs, incidentID) {
		return nil, fmt.Errorf("incident %q is not linked to %s: %w", incidentID, cur.Number, ErrInvalid)
	}
	p := cur.Clone()
	p.IncidentIDs = slices.DeleteFunc(p.IncidentIDs, func(x string) bool { return x == incidentID })
	p.Unlinked = append(p.Unlinked, incidentID)
	s.summarize(p)
	s.log.Info("incident unlinked from problem", "problem", p.Number, "incident", incidentID, "by", actor)
	return s.save(ctx, p, cur)
}

// Close closes a problem with its root cause.
func (s *Service) Close(ctx context.Context, id, rootCause, actor string) (*Problem, error) {
	if rootCause == "" || len(rootCause) > 4000 {
		return nil, fmt.Errorf("root cause: required, at most 4000 characters: %w", ErrInvalid)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if !cur.Open() {
		return nil, fmt.Errorf("problem %s is already closed: %w", cur.Number, ErrInvalid)
	}
	p := cur.Clone()
	now := s.now().UTC()
	p.State, p.ClosedAt, p.ClosedBy, p.RootCause = StateClosed, &now, actor, rootCause
	s.log.Info("problem closed", "problem", p.Number, "by", actor)
	return s.save(ctx, p, cur)
}

// add links an incident and updates the summary (p is a working copy).
func (s *Service) add(p *Problem, inc *incidents.Incident) {
	p.IncidentIDs = append(p.IncidentIDs, inc.ID)
	// Keep opening order: detection may find an older incident after a newer one.
	slices.SortStableFunc(p.IncidentIDs, func(a, b string) int {
		ia, oka := s.incidents.Get(a)
		ib, okb := s.incidents.Get(b)
		if !oka || !okb {
			return 0
		}
		return ia.OpenedAt.Compare(ib.OpenedAt)
	})
	s.summarize(p)
}

// summarize recomputes the counts from the linked incidents still known; incidents
// removed by retention keep counting through the stored summary.
func (s *Service) summarize(p *Problem) {
	conds := map[string]int{}
	assetIDs := map[string]bool{}
	var first, last time.Time
	known := 0
	for _, id := range p.IncidentIDs {
		i, ok := s.incidents.Get(id)
		if !ok {
			continue
		}
		known++
		conds[i.Condition]++
		assetIDs[i.AssetID] = true
		if first.IsZero() || i.OpenedAt.Before(first) {
			first = i.OpenedAt
		}
		if i.OpenedAt.After(last) {
			last = i.OpenedAt
		}
	}
	n := len(assetIDs)
	if known < len(p.IncidentIDs) {
		// Some were pruned: keep what the stored summary knew of them.
		n = max(n, p.Assets)
		if !p.FirstSeen.IsZero() && (first.IsZero() || p.FirstSeen.Before(first)) {
			first = p.FirstSeen
		}
		if p.LastSeen.After(last) {
			last = p.LastSeen
		}
	}
	p.Count, p.Assets, p.FirstSeen, p.LastSeen = len(p.IncidentIDs), n, first, last
	p.Conditions = p.Conditions[:0]
	for c, n := range conds {
		p.Conditions = append(p.Conditions, ConditionCount{Condition: c, Count: n})
	}
	slices.SortFunc(p.Conditions, func(a, b ConditionCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.Condition < b.Condition {
			return -1
		}
		return 1
	})
}
