package graphql

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/kinds"
	"github.com/graphql-go/graphql/language/location"
	"github.com/graphql-go/graphql/language/visitor"
)

// Bounds on what a refused request gets back.
const (
	// MaxErrors is the most errors one answer lists; the last one says how many more
	// there were.
	MaxErrors = 50
	// maxRuleErrors is the most errors one validation rule reports: graphql-go spends
	// time on each (suggestions compare a name with every name of the schema), and ten
	// say enough.
	maxRuleErrors = 10
	// maxErrorBytes bounds one error message.
	maxErrorBytes = 1024
	// maxProblems is the most reasons given for one invalid value.
	maxProblems = 3
)

// validationRules are graphql-go's specified rules, each limited to maxRuleErrors
// errors, with three replaced by linear versions of ours: graphql-go's print the whole
// value into their messages, or compare every pair of fields of a response name
// printing both arguments, with a printer that is itself quadratic (500 copies of
// `a: assets(first: 1)` took 25 s to validate).
var validationRules = []gql.ValidationRuleFn{
	argumentsOfCorrectType,     // replaces ArgumentsOfCorrectTypeRule
	defaultValuesOfCorrectType, // replaces DefaultValuesOfCorrectTypeRule
	gql.FieldsOnCorrectTypeRule,
	gql.FragmentsOnCompositeTypesRule,
	gql.KnownArgumentNamesRule,
	gql.KnownDirectivesRule,
	gql.KnownFragmentNamesRule,
	gql.KnownTypeNamesRule,
	gql.LoneAnonymousOperationRule,
	gql.NoFragmentCyclesRule,
	gql.NoUndefinedVariablesRule,
	gql.NoUnusedFragmentsRule,
	gql.NoUnusedVariablesRule,
	fieldsCanMerge, // replaces OverlappingFieldsCanBeMergedRule
	gql.PossibleFragmentSpreadsRule,
	gql.ProvidedNonNullArgumentsRule,
	gql.ScalarLeafsRule,
	gql.UniqueArgumentNamesRule,
	gql.UniqueFragmentNamesRule,
	gql.UniqueInputFieldNamesRule,
	gql.UniqueOperationNamesRule,
	gql.UniqueVariableNamesRule,
	gql.VariablesAreInputTypesRule,
	gql.VariablesInAllowedPositionRule,
}

func init() {
	for i, r := range validationRules {
		validationRules[i] = capped(r, maxRuleErrors)
	}
}

// validate runs the validation rules on a document parsed without its source (so that
// locating an error does not scan the whole query again) and already bounded by
// checkDocument and checkShape.
func validate(s *gql.Schema, doc *ast.Document) []gqlerrors.FormattedError {
	return gql.ValidateDocument(s, doc, validationRules).Errors
}

// capped stops a rule after it has reported max errors.
func capped(rule gql.ValidationRuleFn, max int) gql.ValidationRuleFn {
	return func(ctx *gql.ValidationContext) *gql.ValidationRuleInstance {
		in := rule(ctx).VisitorOpts
		reported := 0
		wrap := func(f visitor.VisitFunc) visitor.VisitFunc {
			if f == nil {
				return nil
			}
			return func(p visitor.VisitFuncParams) (string, any) {
				if reported >= max {
					return visitor.ActionBreak, nil
				}
				before := len(ctx.Errors())
				action, v := f(p)
				reported += len(ctx.Errors()) - before
				return action, v
			}
		}
		out := &visitor.VisitorOptions{Enter: wrap(in.Enter), Leave: wrap(in.Leave)}
		if in.KindFuncMap != nil {
			out.KindFuncMap = map[string]visitor.NamedVisitFuncs{}
			for k, f := range in.KindFuncMap {
				out.KindFuncMap[k] = visitor.NamedVisitFuncs{Kind: wrap(f.Kind), Enter: wrap(f.Enter), Leave: wrap(f.Leave)}
			}
		}
		if in.EnterKindMap != nil {
			out.EnterKindMap = map[string]visitor.VisitFunc{}
			for k, f := range in.EnterKindMap {
				out.EnterKindMap[k] = wrap(f)
			}
		}
		if in.LeaveKindMap != nil {
			out.LeaveKindMap = map[string]visitor.VisitFunc{}
			for k, f := range in.LeaveKindMap {
				out.LeaveKindMap[k] = wrap(f)
			}
		}
		return &gql.ValidationRuleInstance{VisitorOpts: out}
	}
}

func reportInvalid(ctx *gql.ValidationContext, msg string, nodes ...ast.Node) {
	ctx.ReportError(gqlerrors.NewError(msg, nodes, "", nil, []int{}, nil))
}

// argumentsOfCorrectType: every argument written in the query has a value of its
// type. The message says why, without printing the value.
func argumentsOfCorrectType(ctx *gql.ValidationContext) *gql.ValidationRuleInstance {
	return &gql.ValidationRuleInstance{VisitorOpts: &visitor.VisitorOptions{
		KindFuncMap: map[string]visitor.NamedVisitFuncs{
			kinds.Argument: {Kind: func(p visitor.VisitFuncParams) (string, any) {
				arg, ok := p.Node.(*ast.Argument)
				def := ctx.Argument()
				if !ok || def == nil {
					return visitor.ActionSkip, nil
				}
				if problems := literalProblems(def.Type, arg.Value, "", nil); len(problems) > 0 {
					reportInvalid(ctx, fmt.Sprintf("Argument %q has an invalid value.\n%s", nameOf(arg.Name), strings.Join(problems, "\n")), arg.Value)
				}
				return visitor.ActionSkip, nil
			}},
		},
	}}
}

// defaultValuesOfCorrectType: every variable's default value is of its type, and a
// required variable has none.
func defaultValuesOfCorrectType(ctx *gql.ValidationContext) *gql.ValidationRuleInstance {
	skip := visitor.NamedVisitFuncs{Kind: func(visitor.VisitFuncParams) (string, any) { return visitor.ActionSkip, nil }}
	return &gql.ValidationRuleInstance{VisitorOpts: &visitor.VisitorOptions{
		KindFuncMap: map[string]visitor.NamedVisitFuncs{
			kinds.VariableDefinition: {Kind: func(p visitor.VisitFuncParams) (string, any) {
				vd, ok := p.Node.(*ast.VariableDefinition)
				if !ok || vd.DefaultValue == nil || vd.Variable == nil {
					return visitor.ActionSkip, nil
				}
				name, t := nameOf(vd.Variable.Name), ctx.InputType()
				if nn, ok := t.(*gql.NonNull); ok {
					reportInvalid(ctx, fmt.Sprintf(`Variable "$%s" of type "%v" is required and will not use the default value. Perhaps you meant to use type "%v".`, name, nn, nn.OfType), vd.DefaultValue)
				}
				if t == nil {
					return visitor.ActionSkip, nil
				}
				if problems := literalProblems(t, vd.DefaultValue, "", nil); len(problems) > 0 {
					reportInvalid(ctx, fmt.Sprintf("Variable \"$%s\" has an invalid default value.\n%s", name, strings.Join(problems, "\n")), vd.DefaultValue)
				}
				return visitor.ActionSkip, nil
			}},
			kinds.SelectionSet:       skip,
			kinds.FragmentDefinition: skip,
		},
	}}
}

// literalProblems appends to out, up to maxProblems, why v is not a literal of type t,
// in graphql-go's words but without printing more than a short scalar. at is the path
// to v ("In field \"f\": In element #2: ").
func literalProblems(t gql.Input, v ast.Value, at string, out []string) []string {
	if len(out) >= maxProblems {
		return out
	}
	nn, required := t.(*gql.NonNull)
	if !required {
		if v == nil {
			return out
		}
		if _, ok := v.(*ast.Variable); ok {
			return out // variables are checked against their declared type
		}
	}
	switch t := t.(type) {
	case *gql.NonNull:
		if v == nil {
			return append(out, fmt.Sprintf(`%sExpected "%v!", found null.`, at, nn.OfType))
		}
		inner, _ := t.OfType.(gql.Input)
		return literalProblems(inner, v, at, out)
	case *gql.List:
		item, _ := t.OfType.(gql.Input)
		list, ok := v.(*ast.ListValue)
		if !ok {
			return literalProblems(item, v, at, out) // a single value is a list of one
		}
		for i, x := range list.Values {
			if out = literalProblems(item, x, fmt.Sprintf("%sIn element #%d: ", at, i+1), out); len(out) >= maxProblems {
				break
			}
		}
		return out
	case *gql.InputObject:
		obj, ok := v.(*ast.ObjectValue)
		if !ok {
			return append(out, fmt.Sprintf(`%sExpected "%s", found not an object.`, at, t.Name()))
		}
		fields := t.Fields()
		given := make(map[string]ast.Value, len(obj.Fields))
		for _, f := range obj.Fields {
			if f == nil || f.Name == nil {
				continue
			}
			given[f.Name.Value] = f.Value
			if _, ok := fields[f.Name.Value]; !ok && len(out) < maxProblems {
				out = append(out, fmt.Sprintf(`%sIn field %q: Unknown field.`, at, f.Name.Value))
			}
		}
		for _, name := range sortedKeys(fields) {
			if len(out) >= maxProblems {
				break
			}
			out = literalProblems(fields[name].Type, given[name], fmt.Sprintf("%sIn field %q: ", at, name), out)
		}
		return out
	case *gql.Scalar:
		if nullish(t.ParseLiteral(v)) {
			return append(out, fmt.Sprintf(`%sExpected type %q, found %s.`, at, t.Name(), shortLiteral(v)))
		}
	case *gql.Enum:
		if nullish(t.ParseLiteral(v)) {
			return append(out, fmt.Sprintf(`%sExpected type %q, found %s.`, at, t.Name(), shortLiteral(v)))
		}
	}
	return out
}

// shortLiteral prints a literal in a few bytes.
func shortLiteral(v ast.Value) string {
	switch x := v.(type) {
	case *ast.IntValue:
		return cut(x.Value, 40)
	case *ast.FloatValue:
		return cut(x.Value, 40)
	case *ast.StringValue:
		return strconv.Quote(cut(x.Value, 40))
	case *ast.BooleanValue:
		return strconv.FormatBool(x.Value)
	case *ast.EnumValue:
		return cut(x.Value, 40)
	case *ast.Variable:
		return "$" + nameOf(x.Name)
	case *ast.ListValue:
		return fmt.Sprintf("a list of %d", len(x.Values))
	case *ast.ObjectValue:
		return "an object"
	}
	return "nothing"
}

// fieldsCanMerge: fields of one response name in one selection set (fragments
// included) must be the same field with the same arguments, so that one value can
// answer them all; their selections must then merge too. graphql-go compares every pair
// of such fields; comparing each with the first is enough because "the same field with
// the same arguments" is an equivalence, and because the schema has no interface or
// union (TestSchemaHasNoAbstractTypes), fields of one response name in one set always
// have the same parent type. One pass, linear in the expanded document.
func fieldsCanMerge(ctx *gql.ValidationContext) *gql.ValidationRuleInstance {
	return &gql.ValidationRuleInstance{VisitorOpts: &visitor.VisitorOptions{
		KindFuncMap: map[string]visitor.NamedVisitFuncs{
			kinds.Document: {Kind: func(p visitor.VisitFuncParams) (string, any) {
				doc, ok := p.Node.(*ast.Document)
				if !ok {
					return visitor.ActionSkip, nil
				}
				m := merger{ctx: ctx, frags: map[string]*ast.FragmentDefinition{}}
				for _, d := range doc.Definitions {
					if f, ok := d.(*ast.FragmentDefinition); ok && f.Name != nil {
						m.frags[f.Name.Value] = f
					}
				}
				for _, d := range doc.Definitions {
					switch x := d.(type) {
					case *ast.OperationDefinition:
						m.merge([]*ast.SelectionSet{x.SelectionSet})
					case *ast.FragmentDefinition:
						m.merge([]*ast.SelectionSet{x.SelectionSet})
					}
				}
				return visitor.ActionSkip, nil
			}},
		},
	}}
}

type merger struct {
	ctx   *gql.ValidationContext
	frags map[string]*ast.FragmentDefinition
}

// merge checks the selection sets that answer one response object together.
func (m *merger) merge(sets []*ast.SelectionSet) {
	var order []string
	byName := map[string][]*ast.Field{}
	var collect func(set *ast.SelectionSet)
	collect = func(set *ast.SelectionSet) {
		if set == nil {
			return
		}
		for _, sel := range set.Selections {
			switch x := sel.(type) {
			case *ast.Field:
				name := nameOf(x.Name)
				if x.Alias != nil {
					name = x.Alias.Value
				}
				if _, ok := byName[name]; !ok {
					order = append(order, name)
				}
				byName[name] = append(byName[name], x)
			case *ast.InlineFragment:
				collect(x.SelectionSet)
			case *ast.FragmentSpread:
				if x.Name != nil {
					if f, ok := m.frags[x.Name.Value]; ok {
						collect(f.SelectionSet) // no cycles: checkShape refused them
					}
				}
			}
		}
	}
	for _, s := range sets {
		collect(s)
	}
	const advice = " Use different aliases on the fields to fetch both if this was intentional."
	for _, name := range order {
		fields := byName[name]
		first := fields[0]
		subs := []*ast.SelectionSet{first.SelectionSet}
		for _, f := range fields[1:] {
			switch {
			case nameOf(f.Name) != nameOf(first.Name):
				reportInvalid(m.ctx, fmt.Sprintf("Fields %q conflict because %s and %s are different fields.%s", name, nameOf(first.Name), nameOf(f.Name), advice), first, f)
			case !sameArguments(first.Arguments, f.Arguments):
				reportInvalid(m.ctx, fmt.Sprintf("Fields %q conflict because they have differing arguments.%s", name, advice), first, f)
			default:
				subs = append(subs, f.SelectionSet)
			}
		}
		m.merge(subs)
	}
}

func sameArguments(a, b []*ast.Argument) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if nameOf(x.Name) == nameOf(y.Name) {
				found = sameValue(x.Value, y.Value)
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sameValue compares two literals as graphql-go does (by their printed form), without
// printing them.
func sameValue(a, b ast.Value) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case *ast.Variable:
		y, ok := b.(*ast.Variable)
		return ok && nameOf(x.Name) == nameOf(y.Name)
	case *ast.IntValue:
		y, ok := b.(*ast.IntValue)
		return ok && x.Value == y.Value
	case *ast.FloatValue:
		y, ok := b.(*ast.FloatValue)
		return ok && x.Value == y.Value
	case *ast.StringValue:
		y, ok := b.(*ast.StringValue)
		return ok && x.Value == y.Value
	case *ast.BooleanValue:
		y, ok := b.(*ast.BooleanValue)
		return ok && x.Value == y.Value
	case *ast.EnumValue:
		y, ok := b.(*ast.EnumValue)
		return ok && x.Value == y.Value
	case *ast.ListValue:
		y, ok := b.(*ast.ListValue)
		if !ok || len(x.Values) != len(y.Values) {
			return false
		}
		for i := range x.Values {
			if !sameValue(x.Values[i], y.Values[i]) {
				return false
			}
		}
		return true
	case *ast.ObjectValue:
		y, ok := b.(*ast.ObjectValue)
		if !ok || len(x.Fields) != len(y.Fields) {
			return false
		}
		for i := range x.Fields {
			if nameOf(x.Fields[i].Name) != nameOf(y.Fields[i].Name) || !sameValue(x.Fields[i].Value, y.Fields[i].Value) {
				return false
			}
		}
		return true
	}
	return false
}

// lines maps byte offsets of a query to lines and columns, as graphql-go would, once.
type lines struct{ starts []int }

func newLines(q string) *lines {
	l := &lines{starts: []int{0}}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '\r':
			if i+1 < len(q) && q[i+1] == '\n' {
				i++
			}
			l.starts = append(l.starts, i+1)
		case '\n':
			l.starts = append(l.starts, i+1)
		}
	}
	return l
}

func (l *lines) at(offset int) location.SourceLocation {
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > offset }) - 1
	i = max(i, 0)
	return location.SourceLocation{Line: i + 1, Column: offset - l.starts[i] + 1}
}

// relocate turns the locations of errors found in a document parsed without its source
// (graphql-go then gives line 1 and the byte offset plus one as column) into lines and
// columns of the query text.
func relocate(errs []gqlerrors.FormattedError, query string) {
	var l *lines
	for _, e := range errs {
		for i, loc := range e.Locations {
			if loc.Line != 1 {
				continue
			}
			if l == nil {
				l = newLines(query)
			}
			e.Locations[i] = l.at(loc.Column - 1)
		}
	}
}

// boundErrors keeps the first MaxErrors errors, each cut to maxErrorBytes, and says how
// many more there were.
func boundErrors(errs []gqlerrors.FormattedError) []gqlerrors.FormattedError {
	if len(errs) > MaxErrors {
		more := len(errs) - MaxErrors + 1
		errs = append(errs[:MaxErrors-1:MaxErrors-1], gqlerrors.FormattedError{
			Message: fmt.Sprintf("and %d more errors not shown", more), Locations: []location.SourceLocation{},
			Extensions: errs[MaxErrors-1].Extensions,
		})
	}
	for i := range errs {
		if len(errs[i].Message) > maxErrorBytes {
			errs[i].Message = cut(errs[i].Message, maxErrorBytes)
		}
	}
	return errs
}

// syntaxError bounds graphql-go's syntax error, whose message quotes the lines around
// the error (or the rest of the query after a bad escape), and locates it in the query
// as the client wrote it (the parser saw it with spaces turned into line breaks).
func syntaxError(err error, query string) []gqlerrors.FormattedError {
	fe := gqlerrors.FormatError(err)
	msg, _, _ := strings.Cut(fe.Message, "\n\n")
	var ge *gqlerrors.Error
	if errors.As(err, &ge) && len(ge.Positions) > 0 {
		// "Syntax Error GraphQL request (line:column) description"
		loc := newLines(query).at(min(ge.Positions[0], len(query)))
		if _, desc, ok := strings.Cut(msg, ") "); ok {
			msg = fmt.Sprintf("Syntax Error GraphQL request (%d:%d) %s", loc.Line, loc.Column, desc)
		}
		fe.Locations = []location.SourceLocation{loc}
	}
	fe.Message = cut(msg, 300)
	return tagErrors([]gqlerrors.FormattedError{fe}, CodeBadUserInput)
}

// cut shortens s to at most n bytes on a character boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
