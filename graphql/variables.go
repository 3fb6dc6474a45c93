package graphql

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
)

// MaxJSONValues bounds the JSON values of a request body (every scalar, key, array and
// object counts one; in practice, its variables), counted as the body is read, before
// any is decoded. Decoding, checking and coercing a value costs about a microsecond and
// some 60 bytes: half a million take half a second. An observation with every field
// set holds about 110, a typical one 40 to 60; a collector whose batch is refused for
// its size splits it and sends the halves.
const MaxJSONValues = 500_000

// errTooManyValues is what a valueLimiter's Read returns past its limit.
var errTooManyValues = errors.New("too many JSON values")

// decodeJSON decodes one JSON value from r into v, numbers as json.Number, refusing a
// text of more than MaxJSONValues values before it is all decoded.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(&valueLimiter{r: r, max: MaxJSONValues})
	dec.UseNumber()
	err := dec.Decode(v)
	if errors.Is(err, errTooManyValues) {
		return errorf(CodeQueryTooComplex, "the request holds more than %d JSON values", MaxJSONValues)
	}
	return err
}

// valueLimiter passes a JSON text through, counting the values and keys that start in
// it, and fails once they pass max. It does not check the syntax: the decoder does.
type valueLimiter struct {
	r        io.Reader
	max, n   int
	inString bool // inside a string
	escaped  bool // after a backslash in a string
	inWord   bool // inside a number, true, false or null
}

func (l *valueLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		switch {
		case l.inString:
			switch {
			case l.escaped:
				l.escaped = false
			case c == '\\':
				l.escaped = true
			case c == '"':
				l.inString = false
			}
		case c == '"':
			l.inString, l.inWord = true, false
			l.n++
		case c == '{' || c == '[':
			l.inWord = false
			l.n++
		case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			if !l.inWord {
				l.inWord = true
				l.n++
			}
		default:
			l.inWord = false
		}
	}
	if l.n > l.max {
		return 0, errTooManyValues
	}
	return n, err
}

// denumber turns json.Number into int or float64 as graphql-go expects, in place.
func denumber(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case json.Number:
				x[k] = denumber(e)
			case map[string]any, []any:
				denumber(e) // in place: no map write for the many values that are not numbers
			}
		}
		return x
	case []any:
		for i, e := range x {
			if e != nil {
				x[i] = denumber(e)
			}
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil && i == int64(int(i)) {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// checkVariables checks the values of op's variables against their declared types
// before graphql-go does: its message would print the whole value (JSON-encoded) and
// one line per bad list item, megabytes for a large one. The checks are graphql-go's,
// a little stricter: a list or an object given for a scalar is refused (graphql-go's
// String would print it into a string).
func checkVariables(s *gql.Schema, op *ast.OperationDefinition, vars map[string]any) error {
	for _, vd := range op.VariableDefinitions {
		t, ok := typeOf(s, vd.Type).(gql.Input)
		if !ok || t == nil {
			continue // validation reported it
		}
		name := nameOf(vd.Variable.Name)
		v := vars[name]
		if v == nil {
			if _, required := t.(*gql.NonNull); required {
				return errorf(CodeBadUserInput, "Variable \"$%s\" of required type %q was not provided.", name, t.String())
			}
			continue
		}
		if problems := inputProblems(t, v, "", nil); len(problems) > 0 {
			return errorf(CodeBadUserInput, "Variable \"$%s\" got an invalid value.\n%s", name, strings.Join(problems, "\n"))
		}
	}
	return nil
}

// inputProblems appends to out, up to maxProblems, why the variable value v is not of
// type t. at is the path to v.
func inputProblems(t gql.Input, v any, at string, out []string) []string {
	if len(out) >= maxProblems {
		return out
	}
	if nullish(v) {
		if nn, ok := t.(*gql.NonNull); ok {
			return append(out, fmt.Sprintf(`%sExpected "%v!", found null.`, at, nn.OfType))
		}
		return out
	}
	switch t := t.(type) {
	case *gql.NonNull:
		inner, _ := t.OfType.(gql.Input)
		return inputProblems(inner, v, at, out)
	case *gql.List:
		item, _ := t.OfType.(gql.Input)
		list, ok := v.([]any)
		if !ok {
			return inputProblems(item, v, at, out) // a single value is a list of one
		}
		for i, x := range list {
			if out = inputProblems(item, x, fmt.Sprintf("%sIn element #%d: ", at, i+1), out); len(out) >= maxProblems {
				break
			}
		}
		return out
	case *gql.InputObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return append(out, fmt.Sprintf(`%sExpected %q, found %s.`, at, t.Name(), shortJSON(v)))
		}
		fields := t.Fields()
		for _, name := range firstUnknown(obj, fields, maxProblems-len(out)) {
			out = append(out, fmt.Sprintf(`%sIn field %q: Unknown field.`, at, cut(name, 40)))
		}
		for _, name := range sortedKeys(fields) {
			if len(out) >= maxProblems {
				break
			}
			out = inputProblems(fields[name].Type, obj[name], fmt.Sprintf("%sIn field %q: ", at, name), out)
		}
		return out
	case *gql.Scalar:
		if !isScalarJSON(v) || nullish(t.ParseValue(v)) {
			return append(out, fmt.Sprintf(`%sExpected type %q, found %s.`, at, t.Name(), shortJSON(v)))
		}
	case *gql.Enum:
		if !isScalarJSON(v) || nullish(t.ParseValue(v)) {
			return append(out, fmt.Sprintf(`%sExpected type %q, found %s.`, at, t.Name(), shortJSON(v)))
		}
	}
	return out
}

// firstUnknown returns, in order, the first n keys of obj that are not fields: in
// one pass, where sorting every key of a large object would cost more than the rest.
func firstUnknown(obj map[string]any, fields gql.InputObjectFieldMap, n int) []string {
	var first []string
	for k := range obj {
		if _, ok := fields[k]; ok {
			continue
		}
		i, _ := slices.BinarySearch(first, k)
		if i < n {
			first = slices.Insert(first, i, k)
			first = first[:min(len(first), n)]
		}
	}
	return first
}

func isScalarJSON(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return false
	}
	return true
}

// shortJSON prints a decoded JSON value in a few bytes.
func shortJSON(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(cut(x, 40))
	case []any:
		return fmt.Sprintf("a list of %d", len(x))
	case map[string]any:
		return "an object"
	}
	return cut(fmt.Sprint(v), 40)
}

// nullish is graphql-go's test for a missing value: nil, a nil pointer or NaN.
func nullish(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Ptr:
		return r.IsNil()
	case reflect.Float32, reflect.Float64:
		return math.IsNaN(r.Float())
	}
	return false
}

// typeOf resolves a type written in the query; nil when it names no type.
func typeOf(s *gql.Schema, t ast.Type) gql.Type {
	switch x := t.(type) {
	case *ast.Named:
		if x.Name == nil {
			return nil
		}
		return s.Type(x.Name.Value)
	case *ast.List:
		if inner := typeOf(s, x.Type); inner != nil {
			return gql.NewList(inner)
		}
	case *ast.NonNull:
		if inner := typeOf(s, x.Type); inner != nil {
			return gql.NewNonNull(inner)
		}
	}
	return nil
}
