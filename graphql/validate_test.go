package graphql

import (
	"fmt"
	"strings"
	"testing"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"
)

// validationCases are documents on which our rules must agree with graphql-go's: the
// same verdict, valid or not.
var validationCases = []string{
	`{ assets { totalCount } }`,
	`{ a: assets { totalCount } a: assets { totalCount } }`,
	`{ a: assets(first: 1) { totalCount } a: assets(first: 2) { totalCount } }`,
	`{ a: assets { totalCount } a: incidents { totalCount } }`,
	`{ assets { nodes { id } } assets { totalCount } }`,
	`{ assets { nodes { x: id } } ...F } fragment F on Query { assets { nodes { x: id } } }`,
	`{ assets { nodes { x: id } } ...F } fragment F on Query { assets { nodes { x: name } } }`,
	`{ ... on Query { a: assets { totalCount } } a: incidents { totalCount } }`,
	`{ assets(filter: {site: "a"}) { totalCount } assets(filter: {site: "a"}) { totalCount } }`,
	`{ assets(filter: {site: "a"}) { totalCount } assets(filter: {site: "b"}) { totalCount } }`,
	`{ assets(filter: {site: "a", careArea: "b"}) { totalCount } assets(filter: {careArea: "b", site: "a"}) { totalCount } }`,
	`{ assets(first: 1, after: "x") { totalCount } assets(after: "x", first: 1) { totalCount } }`,
	`query($f: Int) { assets(first: $f) { totalCount } assets(first: $f) { totalCount } }`,
	`query($f: Int, $g: Int) { assets(first: $f) { totalCount } assets(first: $g) { totalCount } }`,
	`{ asset(id: "x") { id } asset(id: "x") { id } }`,
	`{ asset(id: "x") { id } asset(id: "y") { id } }`,
	`{ assetHealth(groupBy: [SITE, CLASS]) { total } }`,
	`{ assetHealth(groupBy: [SITE, NOPE]) { total } }`,
	`{ assetHealth(groupBy: SITE) { total } }`,
	`{ assetHealth(groupBy: "SITE") { total } }`,
	`{ assetHealth(groupBy: [[SITE]]) { total } }`,
	`{ assets(first: "x") { totalCount } }`,
	`{ assets(first: 1.5) { totalCount } }`,
	`{ assets(filter: {ids: ["a"]}) { totalCount } }`,
	`{ assets(filter: "x") { totalCount } }`,
	`{ assets(filter: {class: VENTILATOR}) { totalCount } }`,
	`{ assets(filter: {class: "VENTILATOR"}) { totalCount } }`,
	`query($g: [AssetGroupBy!] = [SITE]) { assetHealth(groupBy: $g) { total } }`,
	`query($g: [AssetGroupBy!] = [NOPE]) { assetHealth(groupBy: $g) { total } }`,
	`query($g: [AssetGroupBy!]! = [SITE]) { assetHealth(groupBy: $g) { total } }`,
	`query($n: Int = "x") { assets(first: $n) { totalCount } }`,
	`query($f: AssetFilter = {site: "x"}) { assets(filter: $f) { totalCount } }`,
	`query($f: AssetFilter = {nope: 1}) { assets(filter: $f) { totalCount } }`,
	`mutation { reportObservations(batch: {collector: "c", observations: []}) { accepted } }`,
	`mutation { reportObservations(batch: {observations: []}) { accepted } }`,
	`mutation { reportObservations(batch: {collector: "c", observations: [{id: "x"}]}) { accepted } }`,
	`mutation { reportObservations(batch: {collector: "c", observations: [{id: "x", collector: "c", observedAt: "2026-01-01T00:00:00Z", source: "SNMP_POLL", state: "UP"}]}) { accepted } }`,
	`mutation { reportObservations(batch: {collector: "c", observations: [{id: "x", collector: "c", observedAt: "yesterday", source: "SNMP_POLL", state: "UP"}]}) { accepted } }`,
	`{ assets @skip(if: true) { totalCount } }`,
	`{ assets @skip(if: "yes") { totalCount } }`,
	`{ a: assets { nodes { id } } a: assets { nodes { b: id } } }`,
	`{ a: assets { nodes { b: id } } a: assets { nodes { b: name } } }`,
	`{ nope }`,
	`{ assets { nope } }`,
	`query($x: Nope) { assets { totalCount } }`,
}

func parseBoth(t testing.TB, q string) (ours, theirs *ast.Document) {
	t.Helper()
	text, _ := breakLines(q)
	ours, err := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: text}), Options: parser.ParseOptions{NoSource: true}})
	if err != nil {
		return nil, nil
	}
	theirs, err = parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(q)})})
	if err != nil {
		t.Fatalf("%q parses with spaces as line breaks, not as written: %v", q, err)
	}
	return ours, theirs
}

// validities validates a document with our rules and with graphql-go's, or reports
// false when the document is outside what validation sees (refused before).
func validities(t testing.TB, s *gql.Schema, q string) (ours, theirs []gqlerrors.FormattedError, ok bool) {
	t.Helper()
	a, b := parseBoth(t, q)
	if a == nil || checkDocument(a) != nil || !variablesTyped(a) {
		return nil, nil, false
	}
	for _, d := range a.Definitions {
		if op, isOp := d.(*ast.OperationDefinition); isOp && checkShape(a, op, nil) != nil {
			return nil, nil, false
		}
	}
	ours = validate(s, a)
	relocate(ours, q)
	return ours, gql.ValidateDocument(s, b, nil).Errors, true
}

// TestValidationAgreesWithGraphqlGo: our replacements of graphql-go's rules and the caps
// on its others change costs and messages, not verdicts.
func TestValidationAgreesWithGraphqlGo(t *testing.T) {
	s, _ := Schema()
	for _, q := range validationCases {
		ours, theirs, ok := validities(t, &s, q)
		if !ok {
			t.Errorf("%s: refused before validation", q)
			continue
		}
		if (len(ours) == 0) != (len(theirs) == 0) {
			t.Errorf("%s\n  ours: %v\n  graphql-go: %v", q, messages(ours), messages(theirs))
		}
	}
}

// FuzzValidationAgrees: on any document within the limits, our validation finds it
// valid exactly when graphql-go's does.
func FuzzValidationAgrees(f *testing.F) {
	for _, q := range validationCases {
		f.Add(q)
	}
	s, _ := Schema()
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 2000 {
			return // graphql-go's own validation is what is slow on large documents
		}
		defer func() {
			if v := recover(); v != nil {
				t.Skipf("graphql-go panicked on its own: %v", v) // its bugs, caught by the handler
			}
		}()
		ours, theirs, ok := validities(t, &s, q)
		if ok && (len(ours) == 0) != (len(theirs) == 0) {
			t.Fatalf("%q\n  ours: %v\n  graphql-go: %v", q, messages(ours), messages(theirs))
		}
	})
}

// TestErrorsLocatedAsGraphqlGoDoes: parsed without its source, a document's errors are
// located by relocate on the query as written, where graphql-go would have put them.
func TestErrorsLocatedAsGraphqlGoDoes(t *testing.T) {
	s, _ := Schema()
	for _, q := range []string{
		"{\n  nope\n  assets { totalCount }\n}",
		"query($a: Int) {\r\n  assets(bad: 1) { totalCount }\r\n\tincidents { nope }\n}",
		"{ assets(first: $x) { totalCount } }\n\n\n# comment\nfragment F on Query { nope }",
		`{ a: assets { totalCount } a: incidents { totalCount } }`,
	} {
		ours, theirs, ok := validities(t, &s, q)
		if !ok || len(ours) == 0 {
			t.Fatalf("%q: want validation errors", q)
		}
		want := map[string]bool{}
		for _, e := range theirs {
			want[fmt.Sprint(e.Locations)] = true
		}
		for _, e := range ours {
			if !want[fmt.Sprint(e.Locations)] {
				t.Errorf("%q: %q at %v; graphql-go's errors are at %v", q, e.Message, e.Locations, locations(theirs))
			}
		}
	}
}

// TestSyntaxErrorsAreShortAndLocated: a syntax error says where, in the query as
// written, and quotes no more than a few bytes of it.
func TestSyntaxErrorsAreShortAndLocated(t *testing.T) {
	long := strings.Repeat("x", 3000)
	for _, c := range []struct {
		q         string
		line, col int
	}{
		{"{\n  assets {\n    totalCount\n  ", 4, 3},
		{`{ assets(filter: {search: "` + long + `"}) { totalCount } }}`, 1, 27 + len(long) + 21},
		{`{ asset(id: "\u` + long + `") { id } }`, 1, 15},
		{"{ a }\n\n  \"" + long, 3, 3 + len(long) + 1},
	} {
		text, _ := breakLines(c.q)
		_, err := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: text, Name: "GraphQL request"}), Options: parser.ParseOptions{NoSource: true}})
		if err == nil {
			t.Fatalf("%.40q parsed", c.q)
		}
		errs := syntaxError(err, c.q)
		e := errs[0]
		if len(e.Message) > 310 || strings.Contains(e.Message, long[:400]) {
			t.Errorf("message of %d bytes: %.100q", len(e.Message), e.Message)
		}
		if len(e.Locations) != 1 || e.Locations[0].Line != c.line || e.Locations[0].Column != c.col ||
			!strings.Contains(e.Message, fmt.Sprintf("(%d:%d)", c.line, c.col)) {
			t.Errorf("%.40q: %q at %v, want %d:%d", c.q, e.Message, e.Locations, c.line, c.col)
		}
		if e.Extensions["code"] != CodeBadUserInput {
			t.Errorf("code %v", e.Extensions["code"])
		}
	}
}

// The overlapping-fields rule compares each field with the first of its response name
// only; that is the spec's check only while no field can be of an interface or union
// type (two fields of one name could then sit on different object types).
func TestSchemaHasNoAbstractTypes(t *testing.T) {
	s, _ := Schema()
	for name, typ := range s.TypeMap() {
		switch typ.(type) {
		case *gql.Interface, *gql.Union:
			t.Errorf("type %s is abstract: fieldsCanMerge (validate.go) must then compare fields pairwise per parent type", name)
		}
	}
}

// Every rule graphql-go specifies is run, ours or theirs.
func TestEverySpecifiedRuleRuns(t *testing.T) {
	if len(validationRules) != len(gql.SpecifiedRules) {
		t.Fatalf("%d rules run, graphql-go specifies %d: a new version added some?", len(validationRules), len(gql.SpecifiedRules))
	}
}

// A rule reports at most maxRuleErrors errors (or, for those that report all at once,
// what one call reports); an answer lists at most MaxErrors.
func TestErrorsAreCapped(t *testing.T) {
	s, _ := Schema()
	var q strings.Builder
	q.WriteString("query(")
	for i := range 60 {
		fmt.Fprintf(&q, "$v%d: Int ", i)
	}
	q.WriteString(") { ")
	for i := range 900 {
		fmt.Fprintf(&q, "n%d ", i)
	}
	q.WriteString("}")
	ours, _, ok := validities(t, &s, q.String())
	if !ok {
		t.Fatal("refused before validation")
	}
	perRule := map[string]int{}
	for _, e := range ours {
		perRule[strings.SplitN(e.Message, " ", 2)[0]]++
	}
	if perRule["Cannot"] != maxRuleErrors || perRule["Variable"] != 60 {
		t.Errorf("errors per rule: %v, want %d unknown fields and 60 unused variables", perRule, maxRuleErrors)
	}
	var many []gqlerrors.FormattedError
	for range 3 * MaxErrors {
		many = append(many, gqlerrors.FormattedError{Message: strings.Repeat("é", maxErrorBytes)})
	}
	bounded := boundErrors(many)
	if len(bounded) != MaxErrors || !strings.Contains(bounded[MaxErrors-1].Message, fmt.Sprint(2*MaxErrors+1)) {
		t.Errorf("%d errors, last %q", len(bounded), bounded[len(bounded)-1].Message)
	}
	if m := bounded[0].Message; len(m) > maxErrorBytes+len("…") || !strings.HasSuffix(m, "é…") {
		t.Errorf("message cut to %d bytes, ends %q", len(m), m[len(m)-8:])
	}
}

func messages(errs []gqlerrors.FormattedError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Message)
	}
	return out
}

func locations(errs []gqlerrors.FormattedError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprint(e.Locations))
	}
	return out
}
