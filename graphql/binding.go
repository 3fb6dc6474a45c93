package graphql

import (
	"context"
	"errors"
	"fmt"

	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// checkReporter refuses a batch a collector token may not send: one in the name of
// another collector, or with an observation of another collector or, for a token
// bound to a site, of another site. The refusal is FORBIDDEN, and the audit entry of
// the call records it. Admin tokens may report as any collector (tools, tests).
//
// A collector token from before bindings is bound to the collector (and the site, if
// the whole batch names one) of its first report: existing collectors keep working,
// and from then on nobody else can use their token as another collector.
func checkReporter(ctx context.Context, collector string, obs []observation.Observation) error {
	p := auth.FromContext(ctx)
	if p == nil || p.Role != auth.RoleCollector {
		return nil
	}
	if p.Collector == "" {
		d := deps(ctx)
		if d == nil || d.Tokens == nil {
			return errorf(CodeForbidden, "token %s is not bound to a collector", p.Name)
		}
		np, bound, err := d.Tokens.BindCollector(ctx, p, collector, batchSite(obs))
		switch {
		case errors.Is(err, auth.ErrBadSpec):
			return errorf(CodeBadUserInput, "token %s cannot be bound to this batch's collector: %v", p.Name, err)
		case errors.Is(err, auth.ErrUnauthenticated):
			return errorf(CodeUnauthenticated, "invalid or revoked token")
		case err != nil:
			return internal(err)
		}
		if bound && d.Audit != nil {
			d.Audit.Record(ctx, audit.Entry{Operation: "bindCollectorToken", Actor: p.Name, Role: string(p.Role), TokenID: p.TokenID,
				Target: np.Collector, Summary: fmt.Sprintf("bound on first use: collector=%s site=%s", np.Collector, np.Site),
				Remote: remoteAddr(ctx), RequestID: RequestID(ctx), OK: true})
		}
		p = np
	}
	// %.100q: a value from the request is quoted, and bounded, in the answer.
	if collector != p.Collector {
		return errorf(CodeForbidden, "token %s reports only as collector %q, not %.100q", p.Name, p.Collector, collector)
	}
	for i := range obs {
		o := &obs[i]
		if o.Collector != "" && o.Collector != p.Collector {
			return errorf(CodeForbidden, "observation %d names collector %.100q: token %s reports only as collector %q; nothing in the batch was applied",
				i, o.Collector, p.Name, p.Collector)
		}
		if p.Site != "" && o.Site != p.Site {
			return errorf(CodeForbidden, "observation %d is for site %.100q: token %s reports only for site %q; nothing in the batch was applied",
				i, o.Site, p.Name, p.Site)
		}
	}
	return nil
}

// batchSite is the site every observation of the batch names, or "".
func batchSite(obs []observation.Observation) string {
	site := ""
	for i, o := range obs {
		if o.Site == "" || (i > 0 && o.Site != site) {
			return ""
		}
		site = o.Site
	}
	return site
}
