package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medcmdb/medcmdb/internal/docstore"
	"github.com/medcmdb/medcmdb/internal/store"
)

// Window is a maintenance window: while it is active, incidents of what it covers are
// still recorded but not notified, and their SLA clocks stand still.
type Window struct {
	ID string `bson:"_id" json:"id"`
	// Scope: every field set must match; at least one is set.
	AssetID  string `bson:"assetId,omitempty" json:"assetId,omitempty"`
	Class    string `bson:"class,omitempty" json:"class,omitempty"`
	Site     string `bson:"site,omitempty" json:"site,omitempty"`
	CareArea string `bson:"careArea,omitempty" json:"careArea,omitempty"`

	Start       time.Time  `bson:"start" json:"start"`
	End         time.Time  `bson:"end" json:"end"`
	Reason      string     `bson:"reason" json:"reason"`
	CreatedBy   string     `bson:"createdBy" json:"createdBy"`
	CreatedAt   time.Time  `bson:"createdAt" json:"createdAt"`
	CancelledAt *time.Time `bson:"cancelledAt,omitempty" json:"cancelledAt,omitempty"`
	CancelledBy string     `bson:"cancelledBy,omitempty" json:"cancelledBy,omitempty"`
}

// ActiveAt reports whether the window is in force at t.
func (w *Window) ActiveAt(t time.Time) bool {
	if w.CancelledAt != nil && !w.CancelledAt.After(t) {
		return false
	}
	return !t.Before(w.Start) && t.Before(w.End)
}

// Ended reports whether the window is over (or cancelled) at t.
func (w *Window) Ended(t time.Time) bool {
	return !t.Before(w.End) || (w.CancelledAt != nil && !w.CancelledAt.After(t))
}

// Covers reports whether an incident falls under the window's scope.
func (w *Window) Covers(i *Incident) bool {
	return (w.AssetID == "" || w.AssetID == i.AssetID) &&
		(w.Class == "" || w.Class == i.Class) &&
		(w.Site == "" || strings.EqualFold(w.Site, i.Site)) &&
		(w.CareArea == "" || strings.EqualFold(w.CareArea, i.CareArea))
}

// MaxWindow bounds a maintenance window: longer than this is a retirement, not upkeep.
const MaxWindow = 31 * 24 * time.Hour

// ErrInvalidWindow is returned for a window that cannot be created or cancelled.
var ErrInvalidWindow = errors.New("invalid maintenance window")

// Maintenance keeps the maintenance windows: few documents, all in memory, written
// by _id.
type Maintenance struct {
	docs docstore.Collection[Window]
	now  func() time.Time

	mu      sync.RWMutex
	windows []*Window // published values are never modified
}

// OpenMaintenance loads the maintenance windows of the store.
func OpenMaintenance(ctx context.Context, s *store.Store, now func() time.Time) (*Maintenance, error) {
	return NewMaintenance(ctx, docstore.Mongo[Window](s.DB.Collection("maintenance_windows")), now)
}

// NewMaintenance loads the maintenance windows kept in docs (docstore.Mem in tests).
func NewMaintenance(ctx context.Context, docs docstore.Collection[Window], now func() time.Time) (*Maintenance, error) {
	if now == nil {
		now = time.Now
	}
	m := &Maintenance{docs: docs, now: now}
	return m, m.Reload(ctx)
}

// Reload reads the windows from the store (another replica may have written some).
func (m *Maintenance) Reload(ctx context.Context) error {
	docs, err := m.docs.All(ctx)
	if err != nil {
		return fmt.Errorf("loading maintenance windows: %w", err)
	}
	list := make([]*Window, len(docs))
	for i := range docs {
		list[i] = &docs[i]
	}
	slices.SortFunc(list, func(a, b *Window) int { return a.Start.Compare(b.Start) })
	m.mu.Lock()
	m.windows = list
	m.mu.Unlock()
	return nil
}

// Create validates and stores a window.
func (m *Maintenance) Create(ctx context.Context, w Window) (*Window, error) {
	now := m.now()
	var errs []error
	if w.AssetID == "" && w.Class == "" && w.Site == "" && w.CareArea == "" {
		errs = append(errs, errors.New("scope: set at least one of assetId, class, site, careArea"))
	}
	if !w.End.After(w.Start) {
		errs = append(errs, errors.New("end must be after start"))
	}
	if !w.End.After(now) {
		errs = append(errs, errors.New("end is in the past"))
	}
	if w.End.Sub(w.Start) > MaxWindow {
		errs = append(errs, fmt.Errorf("longer than %s", MaxWindow))
	}
	if strings.TrimSpace(w.Reason) == "" || len(w.Reason) > 1000 {
		errs = append(errs, errors.New("reason: 1..1000 characters are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidWindow, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	b := make([]byte, 6)
	rand.Read(b)
	w.ID = "mw" + hex.EncodeToString(b)
	w.CreatedAt = now
	w.CancelledAt, w.CancelledBy = nil, ""
	if err := m.docs.Insert(ctx, w.ID, w); err != nil {
		return nil, fmt.Errorf("storing maintenance window: %w", err)
	}
	m.mu.Lock()
	m.windows = append(slices.Clone(m.windows), &w)
	m.mu.Unlock()
	return &w, nil
}

// Cancel ends a window now (or drops one scheduled ahead).
func (m *Maintenance) Cancel(ctx context.Context, id, actor string) (*Window, error) {
	now := m.now()
	m.mu.RLock()
	var cur *Window
	for _, w := range m.windows {
		if w.ID == id {
			cur = w
		}
	}
	m.mu.RUnlock()
	if cur == nil {
		return nil, fmt.Errorf("maintenance window %q: %w", id, ErrNotFound)
	}
	if cur.Ended(now) {
		return nil, fmt.Errorf("maintenance window %s is already over: %w", id, ErrInvalidWindow)
	}
	w := *cur
	w.CancelledAt, w.CancelledBy = &now, actor
	if err := m.docs.Replace(ctx, id, w, 0); err != nil {
		return nil, fmt.Errorf("cancelling maintenance window %s: %w", id, err)
	}
	m.mu.Lock()
	m.windows = slices.Clone(m.windows)
	for k, x := range m.windows {
		if x.ID == id {
			m.windows[k] = &w
		}
	}
	m.mu.Unlock()
	return &w, nil
}

// List returns windows not yet over at now (all of them with ended), by start.
func (m *Maintenance) List(ended bool) []*Window {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Window
	for _, w := range m.windows {
		if ended || !w.Ended(now) {
			out = append(out, w)
		}
	}
	return out
}

// Get returns a window by id.
func (m *Maintenance) Get(id string) (*Window, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, w := range m.windows {
		if w.ID == id {
			return w, true
		}
	}
	return nil, false
}

// Active returns the first window covering the incident at t, or nil.
func (m *Maintenance) Active(i *Incident, t time.Time) *Window {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return activeWindow(m.windows, i, t)
}

// activeWindow returns the first of windows in force at t whose scope covers the
// incident, or nil: the whole of maintenance matching, a pure function.
func activeWindow(windows []*Window, i *Incident, t time.Time) *Window {
	for _, w := range windows {
		if w.ActiveAt(t) && w.Covers(i) {
			return w
		}
	}
	return nil
}

func (e *Engine) inMaintenance(i *Incident, t time.Time) *Window {
	if e.maint == nil {
		return nil
	}
	return e.maint.Active(i, t)
}

// InMaintenance returns the window covering an incident now, or nil.
func (e *Engine) InMaintenance(i *Incident) *Window { return e.inMaintenance(i, e.now()) }
