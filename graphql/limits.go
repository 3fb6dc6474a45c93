package graphql

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/graphql-go/graphql/language/ast"
)

// Query shape limits, checked on the parsed document before validation or execution,
// so a hostile query costs one parse and is refused with a clear error.
const (
	MaxDepth  = 15
	MaxFields = 1000
	MaxCost   = 250_000
)

// MaxNesting bounds how deeply brackets ({, [, () may nest in the query text. It is
// checked before parsing: graphql-go's parser recurses once per level, and a few
// megabytes of "a{" overflow the goroutine stack, which kills the process rather than
// the request. Selections are limited to MaxDepth anyway; input values (lists and
// objects in arguments) need a few levels more.
const MaxNesting = 64

// Document limits, checked in one linear pass over the text and the parsed document
// before graphql-go's validator sees it. The validator compares every pair of
// arguments, variables or fields of a name, locates every error by scanning the whole
// query text again, and prints whole values into its messages (with a printer
// quadratic in the value's size): a 30 KB query could take a core for minutes and
// gigabytes of memory. Bounding the counts bounds those costs; large inputs belong in
// variables, which are checked by other means (variables.go).
const (
	// MaxQueryBytes bounds the query text (the body may be larger: variables).
	MaxQueryBytes = 256 << 10
	// MaxLineBytes bounds the text between two line breaks, spaces or commas (outside
	// strings and comments, these are one and the same to GraphQL, and the parser is
	// given the query with each one a line break): graphql-go builds a syntax error's
	// message in time and memory that grow with the square of its column (a 64 KiB line
	// cost 16 s and 6 GB). Strings and comments that long belong in variables.
	MaxLineBytes = 4 << 10
	// MaxNameBytes bounds every name (field, alias, argument, type, ...): error
	// messages quote them, and graphql-go's suggestions compare them to every name of
	// the schema in time proportional to their length.
	MaxNameBytes = 128
	// MaxArguments bounds the arguments of one field or directive (no field has more
	// than 8).
	MaxArguments = 16
	// MaxDirectives bounds the directives on one field, fragment or operation.
	MaxDirectives = 8
	// MaxVariables bounds the variables one operation declares.
	MaxVariables = 64
	// MaxDefinitions bounds the operations and fragments of one document.
	MaxDefinitions = 128
	// MaxValues bounds the literal values written in the document (each list item,
	// object field, scalar or variable reference counts one).
	MaxValues = 10_000
	// MaxWeight bounds the sum, over the nodes of the document (selections, arguments,
	// values, ...), of their depth in it: graphql-go's validator copies the path from
	// the root at every node it visits, so a node costs it in proportion to its depth
	// (9,000 strings in a list nested 60 deep took 160 MB): 300 to 650 bytes per unit.
	MaxWeight = 75_000
)

// listMultiplier is how many items a list field without `first` is assumed to return.
var listMultiplier = map[string]int{
	"nodes":     1, // the connection's `first` already multiplied
	"incidents": 20, "history": 50, "timeline": 20, "upstream": 10, "dependents": 50,
}

// shape walks an operation, expanding fragments, and measures depth, fields and cost.
type shape struct {
	frags  map[string]*ast.FragmentDefinition
	vars   map[string]any
	fields int
	depth  int
}

// checkShape returns a QUERY_TOO_COMPLEX error when an operation is too deep, too wide
// or too costly.
func checkShape(doc *ast.Document, op *ast.OperationDefinition, vars map[string]any) error {
	s := &shape{frags: map[string]*ast.FragmentDefinition{}, vars: vars}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok && f.Name != nil {
			s.frags[f.Name.Value] = f
		}
	}
	if name := fragmentCycle(s.frags); name != "" {
		return errorf(CodeBadUserInput, "fragment %s spreads itself", name)
	}
	cost, err := s.selection(op.SelectionSet, 1)
	if err != nil {
		return err
	}
	if cost > MaxCost {
		return errorf(CodeQueryTooComplex, "query cost %d exceeds %d: ask for smaller pages (first) or fewer nested lists", cost, MaxCost)
	}
	// The validator walks every operation and fragment of the document, used or not,
	// and recurses without end on a fragment that spreads itself (a stack overflow
	// kills the process: found by FuzzGraphQLRequest). Measure them all the same way.
	for _, d := range doc.Definitions {
		var set *ast.SelectionSet
		switch x := d.(type) {
		case *ast.OperationDefinition:
			if x == op {
				continue
			}
			set = x.SelectionSet
		case *ast.FragmentDefinition:
			set = x.SelectionSet
		default:
			continue
		}
		s.fields = 0
		if _, err := s.selection(set, 1); err != nil {
			return err
		}
	}
	return nil
}

// fragmentCycle returns the name of a fragment that spreads itself, directly or
// through others, anywhere in the document; "" when there is none.
func fragmentCycle(frags map[string]*ast.FragmentDefinition) string {
	const (
		onPath = iota + 1
		done
	)
	state := map[string]int{}
	var visit func(name string) string
	visit = func(name string) string {
		f, ok := frags[name]
		if !ok || state[name] == done {
			return ""
		}
		if state[name] == onPath {
			return name
		}
		state[name] = onPath
		for _, spread := range spreads(f.SelectionSet, nil) {
			if c := visit(spread); c != "" {
				return c
			}
		}
		state[name] = done
		return ""
	}
	for name := range frags {
		if c := visit(name); c != "" {
			return c
		}
	}
	return ""
}

// spreads appends the names of the fragments spread in set, without expanding them.
func spreads(set *ast.SelectionSet, names []string) []string {
	if set == nil {
		return names
	}
	for _, sel := range set.Selections {
		switch x := sel.(type) {
		case *ast.Field:
			names = spreads(x.SelectionSet, names)
		case *ast.InlineFragment:
			names = spreads(x.SelectionSet, names)
		case *ast.FragmentSpread:
			if x.Name != nil {
				names = append(names, x.Name.Value)
			}
		}
	}
	return names
}

func (s *shape) selection(set *ast.SelectionSet, depth int) (int, error) {
	if set == nil {
		return 0, nil
	}
	if depth > MaxDepth {
		return 0, errorf(CodeQueryTooComplex, "query depth exceeds %d", MaxDepth)
	}
	if depth > s.depth {
		s.depth = depth
	}
	total := 0
	for _, sel := range set.Selections {
		var c int
		var err error
		switch x := sel.(type) {
		case *ast.Field:
			s.fields++
			if s.fields > MaxFields {
				return 0, errorf(CodeQueryTooComplex, "query selects more than %d fields and fragments", MaxFields)
			}
			var sub int
			if sub, err = s.selection(x.SelectionSet, depth+1); err == nil {
				c = 1 + s.multiplier(x)*sub
			}
		case *ast.InlineFragment:
			c, err = s.selection(x.SelectionSet, depth)
		case *ast.FragmentSpread:
			// Expanding a fragment counts like a field: a chain of fragments that each
			// spread the next twice expands 2^n times, fields or not.
			s.fields++
			if s.fields > MaxFields {
				return 0, errorf(CodeQueryTooComplex, "query selects more than %d fields and fragments", MaxFields)
			}
			f, ok := s.frags[x.Name.Value]
			if !ok {
				continue // validation reports unknown fragments
			}
			c, err = s.selection(f.SelectionSet, depth) // no cycles: fragmentCycle ran first
		}
		if err != nil {
			return 0, err
		}
		total += c
		if total > MaxCost {
			return total, nil
		}
	}
	return total, nil
}

// multiplier estimates how many times a field's children are resolved.
func (s *shape) multiplier(f *ast.Field) int {
	for _, a := range f.Arguments {
		if a.Name == nil || a.Name.Value != "first" {
			continue
		}
		switch v := a.Value.(type) {
		case *ast.IntValue:
			var n int
			fmt.Sscan(v.Value, &n)
			return max(n, 1)
		case *ast.Variable:
			if n, ok := s.vars[v.Name.Value].(int); ok {
				return max(n, 1)
			}
		}
		return 50
	}
	if f.Name != nil {
		if m, ok := listMultiplier[f.Name.Value]; ok {
			return m
		}
		// Connections default to 50 nodes.
		if f.SelectionSet != nil {
			for _, sel := range f.SelectionSet.Selections {
				if sf, ok := sel.(*ast.Field); ok && sf.Name != nil && sf.Name.Value == "nodes" {
					return 50
				}
			}
		}
	}
	return 1
}

// rateLimiter is a token bucket per caller.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, now: time.Now, buckets: map[string]*bucket{}}
}

// allow takes one token from key's bucket.
func (r *rateLimiter) allow(key string) bool {
	if r == nil || r.rate <= 0 {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.buckets[key]
	if !ok {
		if len(r.buckets) > 10000 {
			// Bounded: forget idle callers rather than grow without limit.
			for k, v := range r.buckets {
				if now.Sub(v.last) > time.Minute {
					delete(r.buckets, k)
				}
			}
		}
		b = &bucket{tokens: r.burst, last: now}
		r.buckets[key] = b
	}
	b.tokens = min(r.burst, b.tokens+now.Sub(b.last).Seconds()*r.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// nestingTooDeep reports whether brackets nest deeper than MaxNesting in q, skipping
// strings, block strings and comments. It does not check that brackets match: the
// parser does.
func nestingTooDeep(q string) bool {
	depth := 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '{', '[', '(':
			depth++
			if depth > MaxNesting {
				return true
			}
		case '}', ']', ')':
			depth = max(depth-1, 0)
		case '#':
			for i < len(q) && q[i] != '\n' && q[i] != '\r' {
				i++
			}
		case '"':
			if strings.HasPrefix(q[i:], `"""`) {
				// A block string ends at the first """ not escaped as \""".
				for i += 3; i < len(q) && !strings.HasPrefix(q[i:], `"""`); i++ {
					if strings.HasPrefix(q[i:], `\"""`) {
						i += 3
					}
				}
				i += 2
				continue
			}
			for i++; i < len(q) && q[i] != '"' && q[i] != '\n'; i++ {
				if q[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}

// breakLines returns a copy of the query text in which every space, tab and comma
// outside strings and comments is a line break instead, and the length of its longest
// line. To GraphQL it is the same document, each byte in its place, so every position
// graphql-go reports is a position in q; but its syntax errors cost the square of a
// column, and columns are now short.
func breakLines(q string) ([]byte, int) {
	b := []byte(q)
	longest, start := 0, 0
	lineEnd := func(i int) {
		longest = max(longest, i-start)
		start = i + 1
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', ',':
			b[i] = '\n'
			lineEnd(i)
		case '\n', '\r':
			lineEnd(i)
		case '#':
			for i+1 < len(b) && b[i+1] != '\n' && b[i+1] != '\r' {
				i++
			}
		case '"':
			if bytes.HasPrefix(b[i:], []byte(`"""`)) {
				// A block string ends at the first """ not escaped as \"""; line breaks
				// in it are line breaks to graphql-go.
				for i += 3; i < len(b); i++ {
					if bytes.HasPrefix(b[i:], []byte(`\"""`)) {
						i += 3
					} else if bytes.HasPrefix(b[i:], []byte(`"""`)) {
						i += 2
						break
					} else if b[i] == '\n' || b[i] == '\r' {
						lineEnd(i)
					}
				}
				continue
			}
			// A string ends at a quote, or unterminated at a line break.
			for i++; i < len(b) && b[i] != '"' && b[i] != '\n' && b[i] != '\r'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i < len(b) && b[i] != '"' {
				lineEnd(i)
			}
		}
	}
	return b, max(longest, len(b)-start)
}
