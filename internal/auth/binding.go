package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BindCollector binds a collector token made before bindings existed to the collector
// (and site, when not empty) of its first report, and returns the caller as now bound.
// It is the migration of such tokens: they keep working for the collector that uses
// them, and no other collector can report with them from then on. A token already
// bound keeps its binding (another replica may have bound it first): the returned
// principal carries whichever binding is stored.
func (s *Store) BindCollector(ctx context.Context, p *Principal, collector, site string) (*Principal, bool, error) {
	if p == nil || p.hash == "" || p.Role != RoleCollector {
		return nil, false, errors.New("binding a token: not a stored collector token")
	}
	if err := CheckName("collector", collector); err != nil {
		return nil, false, err
	}
	set := bson.M{"collector": collector, "boundAt": time.Now().UTC()}
	if site != "" {
		if err := CheckName("site", site); err != nil {
			return nil, false, err
		}
		set["site"] = site
	}
	filter := bson.M{"_id": p.hash, "revoked": bson.M{"$ne": true}, "collector": bson.M{"$exists": false}}
	res, err := s.col.UpdateOne(ctx, filter, bson.M{"$set": set})
	if err != nil {
		return nil, false, fmt.Errorf("binding token %s to collector %q: %w", p.TokenID, collector, err)
	}
	var t Token
	if err := s.col.FindOne(ctx, bson.M{"_id": p.hash}).Decode(&t); err != nil {
		return nil, false, fmt.Errorf("reading token %s after binding it: %w", p.TokenID, err)
	}
	if t.Revoked || t.Collector == "" {
		return nil, false, fmt.Errorf("binding token %s: %w", p.TokenID, ErrUnauthenticated)
	}
	np := t.principal()
	s.mu.Lock()
	s.cache[p.hash] = cached{p: np, exp: time.Now().Add(s.ttl)}
	s.mu.Unlock()
	bound := res.ModifiedCount == 1
	if bound {
		s.log.Warn("collector token bound on first use: from now on it reports only as this collector",
			"token", t.Name, "token_id", np.TokenID, "collector", t.Collector, "site", t.Site)
	}
	return np, bound, nil
}
