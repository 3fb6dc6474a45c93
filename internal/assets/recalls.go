package assets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Recall is a manufacturer recall or safety notice for one manufacturer and model. It
// is stored once and shows on every asset of that make and model, present and future.
type Recall struct {
	ID           string    `bson:"_id"`
	Manufacturer string    `bson:"manufacturer"`
	Model        string    `bson:"model"`
	Reference    string    `bson:"reference"` // the notice number, e.g. an FDA recall number
	Title        string    `bson:"title"`
	URL          string    `bson:"url,omitempty"`
	IssuedAt     time.Time `bson:"issuedAt,omitempty"`
	CreatedBy    string    `bson:"createdBy"`
	CreatedAt    time.Time `bson:"createdAt"`
}

// matches reports whether the recall concerns a device of this make and model.
func (r *Recall) matches(manufacturer, model string) bool {
	return norm(r.Manufacturer) == norm(manufacturer) && norm(r.Model) == norm(model)
}

// Validate checks a recall before it is stored.
func (r *Recall) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"manufacturer", r.Manufacturer}, {"model", r.Model}, {"reference", r.Reference}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	for _, f := range []struct{ name, v string }{{"manufacturer", r.Manufacturer}, {"model", r.Model}, {"reference", r.Reference}, {"title", r.Title}, {"url", r.URL}} {
		if len(f.v) > 1000 {
			errs = append(errs, fmt.Errorf("%s: longer than 1000 characters", f.name))
		}
	}
	if r.URL != "" {
		if err := CheckWebURL(r.URL); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("recall: %w: %w", ErrInvalid, err)
	}
	return nil
}

// CheckWebURL refuses anything but an absolute http or https URL with a host. Recall
// and advisory URLs are there to be followed: shown as a link, a javascript: or data:
// URL would run in the session of whoever follows it.
func CheckWebURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		if len(s) > 80 {
			s = s[:80] + "..."
		}
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// LoadRecalls reads every recall; there are few.
func (s *Store) LoadRecalls(ctx context.Context) ([]*Recall, error) {
	cur, err := s.recalls.Find(ctx, bson.M{})
	if err != nil {
		return nil, fmt.Errorf("loading recalls: %w", err)
	}
	var out []*Recall
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("loading recalls: %w", err)
	}
	slices.SortFunc(out, func(a, b *Recall) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Recalls returns every recall, oldest first.
func (s *Service) Recalls() []*Recall {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.recalls)
}

// RecallsFor returns the recalls concerning an asset's manufacturer and model.
func (s *Service) RecallsFor(a *Asset) []*Recall {
	if a.Manufacturer == "" || a.Model == "" {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Recall
	for _, r := range s.recalls {
		if r.matches(a.Manufacturer, a.Model) {
			out = append(out, r)
		}
	}
	return out
}

// AddRecall stores a recall.
func (s *Service) AddRecall(ctx context.Context, r Recall, actor string) (*Recall, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	r.ID = "r" + hex.EncodeToString(b)
	r.Manufacturer, r.Model, r.Reference = strings.TrimSpace(r.Manufacturer), strings.TrimSpace(r.Model), strings.TrimSpace(r.Reference)
	r.CreatedBy, r.CreatedAt = actor, s.opts.Now()
	if r.IssuedAt.IsZero() {
		r.IssuedAt = dateOnly(r.CreatedAt)
	}
	if err := s.store.InsertRecall(ctx, &r); err != nil {
		return nil, fmt.Errorf("storing recall %s: %w", r.Reference, err)
	}
	s.mu.Lock()
	s.recalls = append(slices.Clone(s.recalls), &r)
	s.mu.Unlock()
	s.log.Info("recall added", "recall", r.ID, "reference", r.Reference, "manufacturer", r.Manufacturer, "model", r.Model, "by", actor)
	return &r, nil
}

// RemoveRecall deletes a recall (entered in error, or closed).
func (s *Service) RemoveRecall(ctx context.Context, id, actor string) error {
	found, err := s.store.DeleteRecall(ctx, id)
	if err != nil {
		return fmt.Errorf("removing recall %s: %w", id, err)
	}
	if !found {
		return fmt.Errorf("recall %q: %w", id, ErrNotFound)
	}
	s.mu.Lock()
	s.recalls = slices.DeleteFunc(slices.Clone(s.recalls), func(r *Recall) bool { return r.ID == id })
	s.mu.Unlock()
	s.log.Info("recall removed", "recall", id, "by", actor)
	return nil
}
