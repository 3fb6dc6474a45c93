package advisories

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Firmware versions as devices report them: "2.4.1", "V2.10a", "04.02.0017",
// "3.1-rc2", "R12.1 (build 512)". A version is split into runs of digits and runs of
// letters; anything else separates. Comparison goes token by token:
//
//   - numbers compare as numbers, whatever their length or leading zeros;
//   - a pre-release word (alpha, beta, rc, pre, preview, dev, snapshot) sorts before
//     the release it precedes: 3.1-rc2 < 3.1 < 3.1.0.1;
//   - any other letters are a revision after the release: 2.10 < 2.10a < 2.10b < 2.11;
//   - a missing number counts as 0: 2.4 == 2.4.0;
//   - at the same position a number sorts after letters: 2.4a < 2.4.1.

type token struct {
	num   string // digits without leading zeros ("" for zero), when numeric
	alpha string // lower-case letters, when not numeric
	isNum bool
}

// Version is a parsed firmware version.
type Version struct {
	raw    string
	tokens []token
}

func (v Version) String() string { return v.raw }

// ErrInvalidVersion marks a version or range that cannot be parsed.
var ErrInvalidVersion = errors.New("invalid version")

// ParseVersion parses a firmware version; it needs at least one digit.
func ParseVersion(s string) (Version, error) { return parseVersion(s, true) }

// parseVersion parses; trim drops trailing zeros (not for wildcard prefixes, where
// 2.0.x must not become 2.x).
func parseVersion(s string, trim bool) (Version, error) {
	v := Version{raw: strings.TrimSpace(s)}
	if len(v.raw) > 100 {
		return v, fmt.Errorf("version %.20q...: longer than 100 characters: %w", v.raw, ErrInvalidVersion)
	}
	digits := false
	rs := []rune(strings.ToLower(v.raw))
	for i := 0; i < len(rs); {
		r := rs[i]
		j := i
		switch {
		case r < unicode.MaxASCII && unicode.IsDigit(r):
			for j < len(rs) && rs[j] < unicode.MaxASCII && unicode.IsDigit(rs[j]) {
				j++
			}
			v.tokens = append(v.tokens, token{num: strings.TrimLeft(string(rs[i:j]), "0"), isNum: true})
			digits = true
		case r < unicode.MaxASCII && unicode.IsLetter(r):
			for j < len(rs) && rs[j] < unicode.MaxASCII && unicode.IsLetter(rs[j]) {
				j++
			}
			word := string(rs[i:j])
			// A leading "v" or "r" (V2.4, R12) names the version, it is not part of it.
			if len(v.tokens) == 0 && (word == "v" || word == "r" || word == "ver" || word == "version") {
				break
			}
			v.tokens = append(v.tokens, token{alpha: word})
		default:
			j++
		}
		i = j
	}
	if !digits {
		return v, fmt.Errorf("version %q: no number in it: %w", v.raw, ErrInvalidVersion)
	}
	// Trailing zeros carry no order (2.4.0 == 2.4): drop them so equal versions have
	// equal tokens.
	for trim && len(v.tokens) > 1 {
		t := v.tokens[len(v.tokens)-1]
		if !t.isNum || t.num != "" {
			break
		}
		v.tokens = v.tokens[:len(v.tokens)-1]
	}
	return v, nil
}

var preRelease = map[string]bool{"alpha": true, "beta": true, "rc": true, "pre": true, "preview": true, "dev": true, "snapshot": true}

// rank orders the kinds of token at one position, including "nothing there".
func rank(t *token) int {
	switch {
	case t == nil:
		return 1 // the release itself
	case t.isNum:
		return 3
	case preRelease[t.alpha]:
		return 0
	}
	return 2 // a revision letter
}

// Compare returns -1, 0 or +1 as a is older than, equal to or newer than b.
func Compare(a, b Version) int {
	for i := 0; i < max(len(a.tokens), len(b.tokens)); i++ {
		var ta, tb *token
		if i < len(a.tokens) {
			ta = &a.tokens[i]
		}
		if i < len(b.tokens) {
			tb = &b.tokens[i]
		}
		// A missing number is 0.
		zero := token{isNum: true}
		if ta == nil && tb.isNum {
			ta = &zero
		}
		if tb == nil && ta.isNum {
			tb = &zero
		}
		if ra, rb := rank(ta), rank(tb); ra != rb {
			return sign(ra - rb)
		}
		if ta == nil { // both missing cannot happen within the loop bound
			continue
		}
		if ta.isNum {
			if len(ta.num) != len(tb.num) {
				return sign(len(ta.num) - len(tb.num))
			}
			if c := strings.Compare(ta.num, tb.num); c != 0 {
				return c
			}
			continue
		}
		if c := strings.Compare(ta.alpha, tb.alpha); c != 0 {
			return c
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Range is a set of versions: alternatives separated by "||", each a comma-separated
// list of constraints that must all hold. A constraint is an operator (=, ==, !=, <,
// <=, >, >=) and a version, a bare version (equal), a prefix with a wildcard ("2.3.x",
// "2.3.*": every 2.3 version), or "*" (every version).
//
//	">= 2.0, < 2.4.1"           2.0 up to but not including 2.4.1
//	"< 1.8 || >= 3.0, < 3.0.7"  two affected branches
type Range struct {
	raw  string
	alts [][]constraint
}

type constraint struct {
	op     string // "=", "!=", "<", "<=", ">", ">=", "prefix", "*"
	v      Version
	prefix []token
}

func (r Range) String() string { return r.raw }

// ParseRange parses a range expression; "" and "*" mean every version.
func ParseRange(s string) (Range, error) {
	r := Range{raw: strings.TrimSpace(s)}
	if len(r.raw) > 500 {
		return r, fmt.Errorf("firmware range: longer than 500 characters: %w", ErrInvalidVersion)
	}
	if r.raw == "" {
		r.alts = [][]constraint{{{op: "*"}}}
		return r, nil
	}
	for _, alt := range strings.Split(r.raw, "||") {
		var cs []constraint
		for _, part := range strings.Split(alt, ",") {
			c, err := parseConstraint(strings.TrimSpace(part))
			if err != nil {
				return r, fmt.Errorf("firmware range %q: %w", r.raw, err)
			}
			cs = append(cs, c)
		}
		r.alts = append(r.alts, cs)
	}
	return r, nil
}

func parseConstraint(s string) (constraint, error) {
	if s == "" {
		return constraint{}, fmt.Errorf("empty constraint: %w", ErrInvalidVersion)
	}
	if s == "*" {
		return constraint{op: "*"}, nil
	}
	op := "="
	for _, o := range []string{"==", "!=", "<=", ">=", "<", ">", "="} {
		if rest, ok := strings.CutPrefix(s, o); ok {
			op, s = o, strings.TrimSpace(rest)
			break
		}
	}
	if op == "==" {
		op = "="
	}
	if strings.ContainsAny(s, "<>=!|") {
		return constraint{}, fmt.Errorf("%q: one operator per constraint (separate constraints with commas): %w", s, ErrInvalidVersion)
	}
	if base, ok := cutWildcard(s); ok {
		if op != "=" {
			return constraint{}, fmt.Errorf("%q: a wildcard takes no operator: %w", s, ErrInvalidVersion)
		}
		v, err := parseVersion(base, false)
		if err != nil {
			return constraint{}, err
		}
		return constraint{op: "prefix", prefix: v.tokens}, nil
	}
	v, err := ParseVersion(s)
	if err != nil {
		return constraint{}, err
	}
	return constraint{op: op, v: v}, nil
}

// cutWildcard recognises "2.3.x", "2.3.X" and "2.3.*".
func cutWildcard(s string) (string, bool) {
	for _, w := range []string{".x", ".X", ".*"} {
		if base, ok := strings.CutSuffix(s, w); ok {
			return base, true
		}
	}
	return s, false
}

// Contains reports whether v is in the range.
func (r Range) Contains(v Version) bool {
	for _, alt := range r.alts {
		ok := true
		for _, c := range alt {
			if !c.holds(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c constraint) holds(v Version) bool {
	switch c.op {
	case "*":
		return true
	case "prefix":
		if len(v.tokens) < len(c.prefix) {
			// 2.3 is in 2.3.x; trailing zeros were dropped from v.
			for i := len(v.tokens); i < len(c.prefix); i++ {
				if !c.prefix[i].isNum || c.prefix[i].num != "" {
					return false
				}
			}
		}
		for i, t := range c.prefix {
			if i < len(v.tokens) && v.tokens[i] != t {
				return false
			}
		}
		return true
	}
	cmp := Compare(v, c.v)
	switch c.op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	}
	return cmp >= 0
}
