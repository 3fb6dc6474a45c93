// Package gqlhostile generates hostile GraphQL requests: small documents that cost a
// GraphQL server time or memory out of proportion to their size (quadratic checks,
// error messages that print whole values, huge variable values). The graphql tests, the
// end-to-end tests and bench/gqlhostile use the same shapes, so the figures the README
// gives come from the requests the tests send.
package gqlhostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Shape is one hostile request, repeated n times.
type Shape struct {
	Name string
	// Body is the request body (GraphQL over HTTP JSON) with n repetitions.
	Body func(n int) []byte
}

// Issue are the four shapes measured in issue 16 (15.7 s, 29.5 s, 1.8 s and 4.1 s on
// the cmdb of the time, at 5,000, 8,000, 4,000 and 4,000 repetitions).
var Issue = []string{"list-literal", "duplicate-arguments", "enum-list", "variables"}

// Shapes returns every hostile shape.
func Shapes() []Shape {
	q := func(name string, f func(n int) string) Shape {
		return Shape{Name: name, Body: func(n int) []byte { return body(f(n), nil, "") }}
	}
	return []Shape{
		// The issue's four.
		q("list-literal", func(n int) string {
			return `{ assets(filter: {ids: [` + rep(n, ",", func(int) string { return `"a0"` }) + `]}) { totalCount } }`
		}),
		q("duplicate-arguments", func(n int) string {
			return `{ assets(` + rep(n, " ", func(int) string { return "first: 1" }) + `) { totalCount } }`
		}),
		q("enum-list", func(n int) string {
			return `{ assetHealth(groupBy: [` + rep(n, " ", func(int) string { return "NOPE" }) + `]) { total } }`
		}),
		q("variables", func(n int) string {
			return `query q(` + rep(n, ",", func(i int) string { return fmt.Sprintf("$v%d: Int", i) }) + `) { assets { totalCount } }`
		}),
		// What else the validator or the executor does per pair, per error or per item.
		q("valid-enum-list", func(n int) string {
			return `{ assetHealth(groupBy: [` + rep(n, " ", func(int) string { return "SITE" }) + `]) { total } }`
		}),
		q("same-alias", func(n int) string {
			return `{ ` + rep(n, " ", func(int) string { return `a: assets(first: 1, filter: {site: "x"}) { totalCount }` }) + ` }`
		}),
		q("aliases", func(n int) string {
			return `{ ` + rep(n, " ", func(i int) string { return fmt.Sprintf("a%d: assets(first: 1) { totalCount }", i) }) + ` }`
		}),
		q("unknown-fields", func(n int) string {
			return `{ ` + rep(n, " ", func(i int) string { return fmt.Sprintf("nopeabcdefghijklmnopqrstuvwxyz%d", i) }) + ` }`
		}),
		q("unknown-arguments", func(n int) string {
			return `{ assets(` + rep(n, " ", func(i int) string { return fmt.Sprintf("a%d: 1", i) }) + `) { totalCount } }`
		}),
		q("directives", func(n int) string {
			return `{ assets ` + rep(n, " ", func(int) string { return "@skip(if: false)" }) + ` { totalCount } }`
		}),
		q("unknown-directives", func(n int) string {
			return `{ assets ` + rep(n, " ", func(i int) string { return fmt.Sprintf("@d%d", i) }) + ` { totalCount } }`
		}),
		q("fragments", func(n int) string {
			return `{ ` + rep(n, " ", func(i int) string { return fmt.Sprintf("...F%d", i) }) + ` } ` +
				rep(n, " ", func(i int) string { return fmt.Sprintf("fragment F%d on Query { assets { totalCount } }", i) })
		}),
		q("fragment-spreads", func(n int) string {
			return `{ ` + rep(n, " ", func(int) string { return "...F" }) + ` } fragment F on Query { assets(first: 1) { totalCount } }`
		}),
		q("fragment-fanout", func(n int) string {
			// Each fragment spreads the next twice: 2^n expansions, no field at all.
			return `{ ...F0 } ` + rep(n, " ", func(i int) string {
				return fmt.Sprintf("fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
			}) + fmt.Sprintf(" fragment F%d on Query { ...Nope }", n)
		}),
		q("deep-fragments", func(n int) string {
			// n leaves 14 levels deep, 900 to a fragment: every fragment within the
			// limits of one, the document as wide as the text allows.
			deep := func(leaves int) string {
				return strings.Repeat("a { ", 14) + strings.Repeat("b ", leaves) + strings.Repeat("} ", 14)
			}
			var b strings.Builder
			b.WriteString("{ ...F0 }")
			for i := 0; n > 0; i++ {
				fmt.Fprintf(&b, " fragment F%d on Query { %s}", i, deep(min(n, 900)))
				n -= 900
			}
			return b.String()
		}),
		q("inline-fragments", func(n int) string {
			return `{ ` + rep(n, " ", func(int) string { return "... on Query { assets { totalCount } }" }) + ` }`
		}),
		q("object-fields", func(n int) string {
			return `{ assets(filter: {` + rep(n, " ", func(int) string { return `site: "x"` }) + `}) { totalCount } }`
		}),
		q("unknown-object-fields", func(n int) string {
			return `{ assets(filter: {` + rep(n, " ", func(i int) string { return fmt.Sprintf("f%d: [1 2 3]", i) }) + `}) { totalCount } }`
		}),
		q("nested-list", func(n int) string {
			return `{ assets(filter: {site: ` + strings.Repeat("[", 60) + rep(n, " ", func(int) string { return `"x"` }) + strings.Repeat("]", 60) + `}) { totalCount } }`
		}),
		q("operations", func(n int) string {
			return rep(n, " ", func(i int) string { return fmt.Sprintf("query q%d { assets { totalCount } }", i) })
		}),
		q("variable-default", func(n int) string {
			return `query q($g: [AssetGroupBy!] = [` + rep(n, " ", func(int) string { return "NOPE" }) + `]) { assetHealth(groupBy: $g) { total } }`
		}),
		q("long-name", func(n int) string { return `{ ` + strings.Repeat("a", n) + ` }` }),
		q("newlines", func(n int) string { return `{ ` + rep(n, "\n", func(int) string { return "nope" }) + ` }` }),
		q("syntax-error-line", func(n int) string {
			return `{ assets { totalCount } } "` + strings.Repeat("x", n)
		}),
		q("syntax-error-column", func(n int) string {
			// An error after a long string, with no space between: a large column.
			return `{assets(filter:{search:"` + strings.Repeat("x", n) + `"}){totalCount}}}`
		}),
		q("syntax-error-end", func(n int) string { return `{ ` + strings.Repeat("a ", n) + `}}` }),
		q("bad-escape", func(n int) string { return `{ asset(id: "\u` + strings.Repeat("x", n) + `) { id } }` }),
		q("long-string", func(n int) string {
			return `{ assets(filter: {search: "` + strings.Repeat("x", n) + `"}) { totalCount } }`
		}),
		{Name: "variable-values", Body: func(n int) []byte {
			return body(`query q($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`,
				map[string]string{"g": ("[" + rep(n, ",", func(int) string { return "1" }) + "]")}, "")
		}},
		{Name: "valid-variable-values", Body: func(n int) []byte {
			return body(`query q($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`,
				map[string]string{"g": ("[" + rep(n, ",", func(int) string { return `"SITE"` }) + "]")}, "")
		}},
		{Name: "variable-object", Body: func(n int) []byte {
			return body(`query q($f: AssetFilter) { assets(filter: $f) { totalCount } }`,
				map[string]string{"f": ("{" + rep(n, ",", func(i int) string { return fmt.Sprintf(`"f%d":[{}]`, i) }) + "}")}, "")
		}},
		{Name: "unused-variable-values", Body: func(n int) []byte {
			return body(`{ assets { totalCount } }`,
				map[string]string{"pad": ("[" + rep(n, ",", func(int) string { return "{}" }) + "]")}, "")
		}},
		{Name: "operation-name", Body: func(n int) []byte {
			return body(`query a { assets { totalCount } }`, nil, strings.Repeat("b", n))
		}},
	}
}

// ByName returns the shape called name.
func ByName(name string) (Shape, bool) {
	for _, s := range Shapes() {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// Fit returns a large n (at least 1) whose body fits in limit bytes: within a few
// percent of the largest, for bodies that grow about linearly with n.
func Fit(s Shape, limit int) int {
	one, two := len(s.Body(1)), len(s.Body(2))
	if two <= one {
		return 1
	}
	best, n := 1, max((limit-one)/(two-one)+1, 1)
	for range 6 {
		size := len(s.Body(n))
		if size <= limit {
			best = max(best, n)
		}
		next := max(int(float64(n)*float64(limit-one)/float64(size-one)*0.995), 1)
		if next == n {
			break
		}
		n = next
	}
	return best
}

// body builds a request body. The variables are JSON texts, written as they are (a
// json.Marshal would check and compact megabytes of them).
func body(query string, vars map[string]string, op string) []byte {
	q, _ := json.Marshal(query)
	var b bytes.Buffer
	b.WriteString(`{"query":`)
	b.Write(q)
	if vars != nil {
		b.WriteString(`,"variables":{`)
		first := true
		for k, v := range vars {
			if !first {
				b.WriteByte(',')
			}
			first = false
			name, _ := json.Marshal(k)
			b.Write(name)
			b.WriteByte(':')
			b.WriteString(v)
		}
		b.WriteByte('}')
	}
	if op != "" {
		name, _ := json.Marshal(op)
		b.WriteString(`,"operationName":`)
		b.Write(name)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func rep(n int, sep string, item func(i int) string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(item(i))
	}
	return b.String()
}
