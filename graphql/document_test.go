package graphql

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/printer"
	"github.com/graphql-go/graphql/language/source"

	"github.com/medcmdb/medcmdb/internal/observation"
)

func repeat(n int, f func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
		b.WriteByte(' ')
	}
	return b.String()
}

// TestDocumentLimits: each limit of checkDocument refuses one past it, with its code
// and a message naming what, and lets the limit itself through.
func TestDocumentLimits(t *testing.T) {
	args := func(n int) string {
		return "{ assets(" + repeat(n, func(i int) string { return fmt.Sprintf("a%d: 1", i) }) + ") { totalCount } }"
	}
	vars := func(n int) string {
		return "query q(" + repeat(n, func(i int) string { return fmt.Sprintf("$v%d: Int", i) }) + ") { assets { totalCount } }"
	}
	dirs := func(n int) string {
		return "{ assets " + repeat(n, func(i int) string { return fmt.Sprintf("@d%d", i) }) + "{ totalCount } }"
	}
	defs := func(n int) string {
		return "{ ...F0 } " + repeat(n-1, func(i int) string { return fmt.Sprintf("fragment F%d on Query { assets { totalCount } }", i) })
	}
	values := func(n int) string {
		return "{ assetHealth(groupBy: [" + strings.Repeat("SITE ", n) + "]) { total } }"
	}
	name := func(n int) string { return "{ " + strings.Repeat("a", n) + " }" }
	// Values in a list nested 10 deep in an argument weigh 17 each.
	heavy := func(n int) string {
		return "{ assets(filter: {search: " + strings.Repeat("[", 10) + strings.Repeat(`"x" `, n) + strings.Repeat("]", 10) + "}) { totalCount } }"
	}
	cases := []struct {
		name, ok, refused string
		code, says        string
	}{
		{"arguments", args(MaxArguments), args(MaxArguments + 1), CodeQueryTooComplex, "field assets has 17 arguments: at most 16"},
		{"duplicate argument", "{ assets(first: 1) { totalCount } }", "{ assets(first: 1, first: 1) { totalCount } }", CodeBadUserInput, "argument first twice"},
		{"variables", vars(MaxVariables), vars(MaxVariables + 1), CodeQueryTooComplex, "operation q declares 65 variables: at most 64"},
		{"duplicate variable", "query($a: Int) { assets(first: $a) { totalCount } }", "query($a: Int, $a: Int) { assets(first: $a) { totalCount } }", CodeBadUserInput, "variable $a twice"},
		{"directives", dirs(MaxDirectives), dirs(MaxDirectives + 1), CodeQueryTooComplex, "9 directives in one place"},
		{"duplicate directive", "{ assets @skip(if: false) { totalCount } }", "{ assets @skip(if: false) @skip(if: true) { totalCount } }", CodeBadUserInput, "directive @skip given twice"},
		{"definitions", defs(MaxDefinitions), defs(MaxDefinitions + 1), CodeQueryTooComplex, "129 operations and fragments: at most 128"},
		{"values", values(MaxValues - 1), values(MaxValues), CodeQueryTooComplex, "more than 10000 values"},
		{"name", name(MaxNameBytes), name(MaxNameBytes + 1), CodeBadUserInput, "is 129 bytes long: at most 128"},
		{"weight", heavy(4000), heavy(5000), CodeQueryTooComplex, "weighs more than 75000"},
		{"type definitions", "{ assets { totalCount } }", "{ assets { totalCount } } type Patient { name: String }", CodeBadUserInput, "only operations and fragments, not ObjectDefinition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := checkDocument(mustParse(t, c.ok)); err != nil {
				t.Errorf("at the limit: %v", err)
			}
			err := checkDocument(mustParse(t, c.refused))
			if err == nil || CodeOf(err) != c.code || !strings.Contains(err.Error(), c.says) {
				t.Errorf("past the limit: %v (%s), want %s saying %q", err, CodeOf(err), c.code, c.says)
			}
		})
	}
}

func mustParse(t testing.TB, q string) *ast.Document {
	t.Helper()
	doc, err := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(q)}), Options: parser.ParseOptions{NoSource: true}})
	if err != nil {
		t.Fatalf("%.60q: %v", q, err)
	}
	return doc
}

func TestBreakLines(t *testing.T) {
	for _, c := range []struct {
		q, want string
		longest int
	}{
		{"{ a, b }", "{\na\n\nb\n}", 1},
		{"{a(x: \"s p, c\")}", "{a(x:\n\"s p, c\")}", 10},
		{"{a(x: \"\"\"bl ock\n  st, ring\"\"\") } # c o, m", "{a(x:\n\"\"\"bl ock\n  st, ring\"\"\")\n}\n# c o, m", 14},
		{`{a(x: "\" ,")}`, "{a(x:\n\"\\\" ,\")}", 8},
		{`{a(x: """\""" ,""")}`, "{a(x:\n\"\"\"\\\"\"\" ,\"\"\")}", 14},
		{"{a(x: \"unterminated\n b)}", "{a(x:\n\"unterminated\n\nb)}", 13},
	} {
		got, longest := breakLines(c.q)
		if string(got) != c.want || longest != c.longest {
			t.Errorf("breakLines(%q) = %q, %d; want %q, %d", c.q, got, longest, c.want, c.longest)
		}
	}
}

// FuzzBreakLines: with its spaces turned into line breaks, a query is the same
// document to graphql-go: it parses (or fails) alike, to the same tree.
func FuzzBreakLines(f *testing.F) {
	for _, q := range validationCases {
		f.Add(q)
	}
	f.Add(`{ a(x: """ block, "string" \""" """, y: "s, \" t") # comment, here` + "\n" + `b }`)
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 4096 {
			return
		}
		text, longest := breakLines(q)
		if len(text) != len(q) || longest > len(q) {
			t.Fatalf("%d bytes in, %d out, longest line %d", len(q), len(text), longest)
		}
		a, errA := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(q)}), Options: parser.ParseOptions{NoLocation: true}})
		b, errB := parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: text}), Options: parser.ParseOptions{NoLocation: true}})
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%q: as written %v, broken %v", q, errA, errB)
		}
		if errA == nil && len(q) < 500 && printer.Print(a) != printer.Print(b) {
			t.Fatalf("%q: parsed as %q, broken as %q", q, printer.Print(a), printer.Print(b))
		}
	})
}

// valueCount counts the values and keys of a JSON text as a decoder sees them.
func valueCount(b []byte) (int, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		if d, ok := tok.(json.Delim); !ok || d == '{' || d == '[' {
			n++
		}
	}
}

// FuzzValueLimiter: on any valid JSON, the limiter counts what the decoder finds, read
// in chunks of any size.
func FuzzValueLimiter(f *testing.F) {
	f.Add([]byte(`{"query":"{ a }","variables":{"a":[1,-2.5e+3,true,null,"x\"y\\",{}],"b":{"c":[]}}}`), 3)
	f.Add([]byte(`"\u00e9\\"`), 1)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		want, err := valueCount(b)
		if err != nil || !json.Valid(b) {
			return
		}
		l := &valueLimiter{r: &chunked{b: b, n: max(chunk%64, 1)}, max: 1 << 30}
		if _, err := io.ReadAll(l); err != nil {
			t.Fatal(err)
		}
		if l.n != want {
			t.Fatalf("%q: counted %d values, the decoder found %d", b, l.n, want)
		}
	})
}

type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

func TestDecodeJSONRefusesTooManyValues(t *testing.T) {
	var req request
	body := `{"query":"{ a }","variables":{"x":[` + strings.Repeat("0,", MaxJSONValues) + `0]}}`
	err := decodeJSON(strings.NewReader(body), &req)
	if CodeOf(err) != CodeQueryTooComplex {
		t.Fatalf("%d values: %v", MaxJSONValues+5, err)
	}
	body = `{"query":"{ a }","variables":{"x":[` + strings.Repeat("0,", MaxJSONValues-10) + `0]}}`
	if err := decodeJSON(strings.NewReader(body), &req); err != nil || len(req.Variables["x"].([]any)) != MaxJSONValues-9 {
		t.Fatalf("just under the limit: %v", err)
	}
}

// TestVariablesChecked: variable values are checked against their types as graphql-go
// would, with a message that quotes no value whole.
func TestVariablesChecked(t *testing.T) {
	s, _ := Schema()
	big := make([]any, 100_000)
	for i := range big {
		big[i] = 1
	}
	cases := []struct {
		query string
		vars  string
		says  string // "" when valid
	}{
		{`query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`, `{"g": ["SITE", "CLASS"]}`, ""},
		{`query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`, `{"g": "SITE"}`, ""},
		{`query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`, `{}`, ""},
		{`query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`, `{"g": ["SITE", 1]}`, `In element #2: Expected type "AssetGroupBy", found 1.`},
		{`query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`, `{"g": ["SITE", null]}`, `In element #2: Expected "AssetGroupBy!", found null.`},
		{`query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`, `{"g": [["SITE"]]}`, `found a list of 1`},
		{`query($n: Int!) { assets(first: $n) { totalCount } }`, `{}`, `"$n" of required type "Int!" was not provided`},
		{`query($n: Int) { assets(first: $n) { totalCount } }`, `{"n": "many"}`, `Expected type "Int", found "many"`},
		{`query($f: AssetFilter) { assets(filter: $f) { totalCount } }`, `{"f": {"site": "x", "careArea": "ICU"}}`, ""},
		{`query($f: AssetFilter) { assets(filter: $f) { totalCount } }`, `{"f": {"nope": 1}}`, `In field "nope": Unknown field.`},
		{`query($f: AssetFilter) { assets(filter: $f) { totalCount } }`, `{"f": {"site": ["x"]}}`, `In field "site": Expected type "String", found a list of 1.`},
		{`query($f: AssetFilter) { assets(filter: $f) { totalCount } }`, `{"f": "x"}`, `Expected "AssetFilter", found "x".`},
		{`query($s: String) { assets(filter: {search: $s}) { totalCount } }`, `{"s": {"a": 1}}`, `Expected type "String", found an object.`},
	}
	for _, c := range cases {
		doc := mustParse(t, c.query)
		var vars map[string]any
		if err := json.Unmarshal([]byte(c.vars), &vars); err != nil {
			t.Fatal(err)
		}
		err := checkVariables(&s, doc.Definitions[0].(*ast.OperationDefinition), denumber(vars).(map[string]any))
		switch {
		case c.says == "" && err != nil:
			t.Errorf("%s with %s: %v", c.query, c.vars, err)
		case c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says) || CodeOf(err) != CodeBadUserInput):
			t.Errorf("%s with %s: %v, want %q", c.query, c.vars, err, c.says)
		}
		// graphql-go agrees on the verdict (it accepts a list for a String; we do not).
		if c.says == "" || !strings.Contains(c.says, "found a list") && !strings.Contains(c.says, "found an object") {
			res := gql.Execute(gql.ExecuteParams{Schema: s, AST: doc, Args: vars})
			refused := len(res.Errors) > 0 && strings.HasPrefix(res.Errors[0].Message, `Variable "$`)
			if refused != (c.says != "") {
				t.Errorf("%s with %s: graphql-go says %v", c.query, c.vars, res.Errors)
			}
		}
	}
	// A long invalid list: one short message.
	doc := mustParse(t, `query($g: [AssetGroupBy!]) { assetHealth(groupBy: $g) { total } }`)
	err := checkVariables(&s, doc.Definitions[0].(*ast.OperationDefinition), map[string]any{"g": big})
	if err == nil || len(err.Error()) > 400 {
		t.Errorf("100,000 bad items: %d bytes of error: %.200v", len(fmt.Sprint(err)), err)
	}
}

// A collector's largest batch (5,000 observations) of typical SNMP observations fits
// in MaxJSONValues; one of observations with every field set does not, and the
// collector then splits it (discovery.Reporter.deliver), so nothing is lost.
func TestCollectorBatchFitsTheValueLimit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	typical := observation.Observation{ID: "site-a/10.20.1.17/1767322000000000000", Collector: "site-a", Site: "main",
		ObservedAt: now, ValidUntil: now.Add(3 * time.Minute), Source: observation.SourceSNMPPoll, Kind: observation.KindRefresh,
		Address:  &observation.Address{IP: "10.20.1.17", Port: 161},
		Identity: observation.Identity{SysName: "icu-3-mon-07", SysObjectID: "1.3.6.1.4.1.99999.1.7", SysDescr: "Monitor 7000 fw 2.1", MACs: []string{"00:11:22:33:44:55"}},
		Location: &observation.Location{Building: "Tower A", Floor: "3", Unit: "ICU-3", CareArea: "ICU"},
		State:    observation.StateUp, Conditions: []string{}}
	full := typical
	full.Identity = observation.Identity{EUI64: "0011223344556677", Manufacturer: "Acme", Model: "M7000", Serial: "SN1",
		MACs: []string{"00:11:22:33:44:55", "00:11:22:33:44:56"}, SysName: "x", SysObjectID: "1.3", SysDescr: "d", Firmware: "2.1",
		Software: "s", MDCCode: "MDC_DEV_MON", Class: "PATIENT_MONITOR", HL7App: "MON7"}
	full.Location = &observation.Location{Building: "A", Floor: "3", Unit: "ICU-3", CareArea: "ICU", Room: "12", Bed: "2", Raw: "A/3/ICU-3/12/2"}
	full.Neighbors = []observation.Neighbor{{Kind: "CONNECTED_TO", IP: "10.20.0.1", MAC: "aa:bb", SysName: "sw1", HL7App: "", Port: "Gi1/0/7"},
		{Kind: "REPORTS_VIA", IP: "10.20.0.2", MAC: "aa:bc", SysName: "gw1", HL7App: "GW", Port: "2575"}}
	full.Condition, full.Conditions, full.Detail = "ups.on_battery", []string{"ups.on_battery", "device.alarm.technical"}, "on battery since 03:02"
	count := func(o observation.Observation) int {
		batch := make([]observation.Observation, 5000)
		for i := range batch {
			batch[i] = o
		}
		body, _ := json.Marshal(map[string]any{"query": "mutation", "variables": map[string]any{"batch": map[string]any{"collector": "site-a", "observations": batch}}})
		n, err := valueCount(body)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(typical); n > MaxJSONValues*3/4 {
		t.Errorf("5,000 typical observations hold %d JSON values: too close to MaxJSONValues (%d)", n, MaxJSONValues)
	} else {
		t.Logf("5,000 typical observations: %d values; with every field set: %d (MaxJSONValues %d)", n, count(full), MaxJSONValues)
	}
}
