package incidents

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/medcmdb/medcmdb/internal/secret"
)

// Secret is a configuration secret that prints as <secret> (see internal/secret).
type Secret = secret.Secret

// Webhook kinds: the body shape the receiver expects.
const (
	KindGeneric      = "generic"
	KindServiceNow   = "servicenow"
	KindJira         = "jira"
	KindFreshservice = "freshservice"
)

// WebhookKinds lists every kind.
var WebhookKinds = []string{KindGeneric, KindServiceNow, KindJira, KindFreshservice}

// Webhook is one service-desk endpoint. Every request is signed with HMAC-SHA256 of
// the timestamp and body under Secret, and carries an Idempotency-Key.
type Webhook struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	Kind string `yaml:"kind"`
	// Secret signs each request (X-Medcmdb-Signature).
	Secret Secret `yaml:"secret"`
	// Headers are sent with every request (e.g. Authorization for the desk's API);
	// their values are secrets.
	Headers map[string]Secret `yaml:"headers"`
	// MinPriority sends only incidents at least this urgent (default P5: all).
	MinPriority Priority      `yaml:"min_priority"`
	Timeout     time.Duration `yaml:"timeout"`

	ServiceNow   ServiceNowOptions   `yaml:"servicenow"`
	Jira         JiraOptions         `yaml:"jira"`
	Freshservice FreshserviceOptions `yaml:"freshservice"`
}

// ServiceNowOptions fill fields of the Table API incident record.
type ServiceNowOptions struct {
	AssignmentGroup string `yaml:"assignment_group"`
	CallerID        string `yaml:"caller_id"`
	Category        string `yaml:"category"`
}

// JiraOptions name the Jira Service Management desk and request type.
type JiraOptions struct {
	ServiceDeskID string `yaml:"service_desk_id"`
	RequestTypeID string `yaml:"request_type_id"`
}

// FreshserviceOptions fill fields of the Freshservice ticket.
type FreshserviceOptions struct {
	RequesterEmail string `yaml:"requester_email"`
	GroupID        int64  `yaml:"group_id"`
}

// Delivery tunes the outbox worker.
type Delivery struct {
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// Timeout is the default per-request timeout of webhooks.
	Timeout time.Duration `yaml:"timeout"`
	// Workers bounds concurrent deliveries (one per incident and webhook at a time).
	Workers int `yaml:"workers"`
}

// wants reports whether the webhook takes incidents of priority p.
func (w *Webhook) wants(p Priority) bool {
	if w.MinPriority == "" {
		return true
	}
	return slices.Index(Priorities, p) <= slices.Index(Priorities, w.MinPriority)
}

func (p *Policy) validateDelivery() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	d := p.Delivery
	if d.InitialBackoff <= 0 || d.MaxBackoff < d.InitialBackoff {
		bad("delivery: initial_backoff must be positive and max_backoff at least as long")
	}
	if d.Timeout <= 0 {
		bad("delivery.timeout: must be positive")
	}
	if d.Workers < 1 || d.Workers > 64 {
		bad("delivery.workers: %d is outside 1..64", d.Workers)
	}
	names := map[string]bool{}
	for i, w := range p.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		if w.Name == "" {
			bad("%s.name: is required", at)
		} else if names[w.Name] {
			bad("%s.name: %q is used twice", at, w.Name)
		}
		names[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s.url: %q is not an http(s) URL", at, w.URL)
		}
		if !slices.Contains(WebhookKinds, w.Kind) {
			bad("%s.kind: %q is not one of %v", at, w.Kind, WebhookKinds)
		}
		if len(w.Secret) < 16 {
			bad("%s.secret: at least 16 characters are required to sign requests", at)
		}
		for h := range w.Headers {
			if h == "" || http.CanonicalHeaderKey(h) == "" {
				bad("%s.headers: invalid header name %q", at, h)
			}
		}
		if w.MinPriority != "" && !validPriority(w.MinPriority) {
			bad("%s.min_priority: %q is not a priority (P1..P5)", at, w.MinPriority)
		}
		if w.Timeout < 0 {
			bad("%s.timeout: must not be negative", at)
		}
		if w.Kind == KindJira && (w.Jira.ServiceDeskID == "" || w.Jira.RequestTypeID == "") {
			bad("%s.jira: service_desk_id and request_type_id are required for kind jira", at)
		}
		if w.Kind == KindFreshservice && w.Freshservice.RequesterEmail == "" {
			bad("%s.freshservice.requester_email: is required for kind freshservice", at)
		}
	}
	return errs
}
