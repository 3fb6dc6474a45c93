package incidents

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// Policy sections beyond the single alert: problem detection, knowledge links and
// rogue devices. They live in the policy file with the rest, and are validated with it.

// ProblemPolicy says when recurring incidents open a problem record.
type ProblemPolicy struct {
	// Asset: Threshold incidents on one asset within Window.
	Asset Recurrence `yaml:"asset"`
	// Model: Threshold incidents on at least MinAssets assets of one manufacturer and
	// model within Window.
	Model Recurrence `yaml:"model"`
	// IgnoreConditions are never counted (a rogue device is not a recurring failure).
	IgnoreConditions []string `yaml:"ignore_conditions"`
	// Schedule is when detection runs (robfig/cron syntax).
	Schedule string `yaml:"schedule"`
}

// Recurrence is a count of incidents within a sliding window; Threshold 0 disables it.
type Recurrence struct {
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
	MinAssets int           `yaml:"min_assets"`
}

// Counts reports whether condition counts towards problems.
func (p ProblemPolicy) Counts(condition string) bool {
	return !slices.Contains(p.IgnoreConditions, condition)
}

// KnowledgeRule links incidents to a runbook or a short instruction. Every matcher it
// sets must match; Condition may end in "*" to match a prefix ("ups.*").
type KnowledgeRule struct {
	Class        string `yaml:"class"`
	Manufacturer string `yaml:"manufacturer"`
	Model        string `yaml:"model"`
	Condition    string `yaml:"condition"`

	Title string `yaml:"title"`
	URL   string `yaml:"url"`
	Text  string `yaml:"text"`
}

// Knowledge is a runbook link or instruction attached to an incident.
type Knowledge struct {
	Title string `bson:"title" json:"title"`
	URL   string `bson:"url,omitempty" json:"url,omitempty"`
	Text  string `bson:"text,omitempty" json:"text,omitempty"`
	// Match says why it applies, e.g. "class VENTILATOR, condition snmp.unreachable".
	Match string `bson:"match" json:"match"`
}

func (r *KnowledgeRule) matchers() int {
	n := 0
	for _, s := range []string{r.Class, r.Manufacturer, r.Model, r.Condition} {
		if s != "" {
			n++
		}
	}
	return n
}

func (r *KnowledgeRule) matches(class, manufacturer, model, condition string) bool {
	eq := func(want, got string) bool {
		return want == "" || strings.EqualFold(strings.TrimSpace(want), strings.TrimSpace(got))
	}
	cond := r.Condition == "" || r.Condition == condition ||
		(strings.HasSuffix(r.Condition, "*") && strings.HasPrefix(condition, strings.TrimSuffix(r.Condition, "*")))
	return cond && eq(r.Class, class) && eq(r.Manufacturer, manufacturer) && eq(r.Model, model)
}

func (r *KnowledgeRule) describe() string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"class", r.Class}, {"manufacturer", r.Manufacturer}, {"model", r.Model}, {"condition", r.Condition}} {
		if f.v != "" {
			parts = append(parts, f.k+" "+f.v)
		}
	}
	return strings.Join(parts, ", ")
}

// KnowledgeFor returns the knowledge matching an incident's device and condition, the
// most specific rules (most matchers) first, then in policy order.
func (p *Policy) KnowledgeFor(class, manufacturer, model, condition string) []Knowledge {
	type hit struct {
		k    Knowledge
		spec int
	}
	var hits []hit
	for i := range p.Knowledge {
		r := &p.Knowledge[i]
		if r.matches(class, manufacturer, model, condition) {
			hits = append(hits, hit{Knowledge{Title: r.Title, URL: r.URL, Text: r.Text, Match: r.describe()}, r.matchers()})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return b.spec - a.spec })
	out := make([]Knowledge, len(hits))
	for i, h := range hits {
		out[i] = h.k
	}
	return out
}

// RoguePolicy: a device seen on a range marked clinical that matches no fingerprint
// profile (class OTHER) and no allow-list entry raises observation.CondRogueDevice.
type RoguePolicy struct {
	Enabled bool `yaml:"enabled"`
	// Allow lists known devices; more can be added over GraphQL.
	Allow []AllowRule `yaml:"allow"`
}

// AllowRule approves devices by exact MAC, by OUI (the first three octets of a MAC) or
// by sysObjectID prefix. Exactly one of them is set.
type AllowRule struct {
	MAC               string `yaml:"mac" bson:"mac,omitempty" json:"mac,omitempty"`
	OUI               string `yaml:"oui" bson:"oui,omitempty" json:"oui,omitempty"`
	SysObjectIDPrefix string `yaml:"sys_object_id_prefix" bson:"sysObjectIDPrefix,omitempty" json:"sysObjectIDPrefix,omitempty"`
	Note              string `yaml:"note" bson:"note,omitempty" json:"note,omitempty"`
}

// ErrInvalidRule marks an allow-list entry or knowledge rule that cannot be used.
var ErrInvalidRule = errors.New("invalid rule")

// Normalize validates the rule and brings MAC and OUI to lower-case colon form.
func (r *AllowRule) Normalize() error {
	set := 0
	for _, s := range []string{r.MAC, r.OUI, r.SysObjectIDPrefix} {
		if strings.TrimSpace(s) != "" {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("allow rule: exactly one of mac, oui, sys_object_id_prefix must be set: %w", ErrInvalidRule)
	}
	if len(r.Note) > 500 {
		return fmt.Errorf("allow rule: note longer than 500 characters: %w", ErrInvalidRule)
	}
	switch {
	case r.MAC != "":
		m, ok := hexOctets(r.MAC, 6)
		if !ok {
			return fmt.Errorf("allow rule: mac %q is not six hex octets: %w", r.MAC, ErrInvalidRule)
		}
		r.MAC = m
	case r.OUI != "":
		m, ok := hexOctets(r.OUI, 3)
		if !ok {
			return fmt.Errorf("allow rule: oui %q is not three hex octets: %w", r.OUI, ErrInvalidRule)
		}
		r.OUI = m
	default:
		p := strings.TrimPrefix(strings.TrimSpace(r.SysObjectIDPrefix), ".")
		for _, part := range strings.Split(strings.TrimSuffix(p, "."), ".") {
			if part == "" || strings.Trim(part, "0123456789") != "" || len(part) > 10 {
				return fmt.Errorf("allow rule: sys_object_id_prefix %q is not a numeric OID: %w", r.SysObjectIDPrefix, ErrInvalidRule)
			}
		}
		r.SysObjectIDPrefix = p
	}
	return nil
}

// Matches reports whether a device with these MACs and sysObjectID is approved.
func (r *AllowRule) Matches(macs []string, sysObjectID string) bool {
	if r.SysObjectIDPrefix != "" {
		oid := strings.TrimPrefix(sysObjectID, ".")
		p := strings.TrimSuffix(r.SysObjectIDPrefix, ".")
		return oid == p || strings.HasPrefix(oid, p+".")
	}
	for _, m := range macs {
		n, ok := hexOctets(m, 6)
		if !ok {
			continue
		}
		if (r.MAC != "" && n == r.MAC) || (r.OUI != "" && strings.HasPrefix(n, r.OUI+":")) {
			return true
		}
	}
	return false
}

// hexOctets normalises "00:1A:2b", "00-1a-2b", "001a2b" or "001a.2bxx" to n lower-case
// colon-separated octets.
func hexOctets(s string, n int) (string, bool) {
	h := strings.Map(func(r rune) rune {
		switch r {
		case ':', '-', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
	if len(h) != 2*n || strings.Trim(h, "0123456789abcdef") != "" {
		return "", false
	}
	parts := make([]string, n)
	for i := range n {
		parts[i] = h[2*i : 2*i+2]
	}
	return strings.Join(parts, ":"), true
}

// defaultBeyond fills the defaults of the sections in this file.
func defaultBeyond(p *Policy) {
	p.Problems = ProblemPolicy{
		Asset:            Recurrence{Threshold: 3, Window: 7 * 24 * time.Hour},
		Model:            Recurrence{Threshold: 6, Window: 30 * 24 * time.Hour, MinAssets: 3},
		IgnoreConditions: []string{observation.CondRogueDevice, observation.CondCollectorSilent},
		Schedule:         "@every 1m",
	}
	p.Rogue = RoguePolicy{Enabled: true}
	// Ninety days: what a desk wants to replay a candidate policy over.
	p.Retention.Observations = 90 * 24 * time.Hour
	p.Retention.ObservationsMaxMB = 10 << 10
	// Events: as long as the observations behind them.
	p.Retention.AssetEvents = 90 * 24 * time.Hour
}

// validateBeyond checks the sections in this file.
func (p *Policy) validateBeyond() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	rec := func(name string, r Recurrence, model bool) {
		if r.Threshold == 0 {
			return
		}
		if r.Threshold < 2 || r.Threshold > 1000 {
			bad("problems.%s.threshold: %d is outside 2..1000 (0 disables)", name, r.Threshold)
		}
		if r.Window < time.Hour || r.Window > 400*24*time.Hour {
			bad("problems.%s.window: %s is outside 1h..400 days", name, r.Window)
		}
		if model && (r.MinAssets < 2 || r.MinAssets > r.Threshold) {
			bad("problems.%s.min_assets: %d must be between 2 and the threshold %d", name, r.MinAssets, r.Threshold)
		}
		if !model && r.MinAssets != 0 {
			bad("problems.%s.min_assets: only applies to model recurrence", name)
		}
	}
	rec("asset", p.Problems.Asset, false)
	rec("model", p.Problems.Model, true)
	if _, err := cron.ParseStandard(p.Problems.Schedule); err != nil {
		bad("problems.schedule: %q: %v", p.Problems.Schedule, err)
	}
	for i := range p.Knowledge {
		r := &p.Knowledge[i]
		if r.Class != "" {
			r.Class = strings.ToUpper(r.Class)
			if !assets.Class(r.Class).Valid() {
				bad("knowledge[%d].class: %q is not an asset class", i, r.Class)
			}
		}
		if r.matchers() == 0 {
			bad("knowledge[%d]: set at least one of class, manufacturer, model, condition", i)
		}
		if strings.TrimSpace(r.Title) == "" || len(r.Title) > 200 {
			bad("knowledge[%d].title: required, at most 200 characters", i)
		}
		if r.URL == "" && strings.TrimSpace(r.Text) == "" {
			bad("knowledge[%d]: set url or text", i)
		}
		if r.URL != "" {
			if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("knowledge[%d].url: %q is not an http(s) URL", i, r.URL)
			}
		}
		if len(r.Text) > 2000 {
			bad("knowledge[%d].text: longer than 2000 characters", i)
		}
	}
	for i := range p.Rogue.Allow {
		if err := p.Rogue.Allow[i].Normalize(); err != nil {
			bad("rogue_devices.allow[%d]: %v", i, err)
		}
	}
	if d := p.Retention.Observations; d < 0 || (d > 0 && d < time.Hour) {
		bad("retention.observations: %s must be 0 (keep for ever) or at least 1h", d)
	}
	if n := p.Retention.ObservationsMaxMB; n < 0 || n > 1<<24 {
		bad("retention.observations_max_mb: %d is outside 0 (no bound)..16777216", n)
	}
	return errs
}

// knowledgeLine is one knowledge entry in a webhook's text body.
func knowledgeLine(k Knowledge) string {
	s := "Runbook: " + k.Title
	if k.URL != "" {
		s += " <" + k.URL + ">"
	}
	if k.Text != "" {
		s += " — " + k.Text
	}
	return s
}
