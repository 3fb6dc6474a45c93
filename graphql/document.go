package graphql

import (
	"github.com/graphql-go/graphql/language/ast"
)

// checkDocument refuses, in one pass over the parsed document, what would make
// graphql-go's validator slow or its errors large: too many definitions, variables,
// arguments, directives or literal values, too much weight (nodes times their depth),
// names too long, a name given twice where GraphQL allows it once, and definitions
// other than operations and fragments. Its cost is linear in the document; the
// validator's would not be.
func checkDocument(doc *ast.Document) error {
	if len(doc.Definitions) > MaxDefinitions {
		return errorf(CodeQueryTooComplex, "the document holds %d operations and fragments: at most %d", len(doc.Definitions), MaxDefinitions)
	}
	c := &docCheck{}
	for _, d := range doc.Definitions {
		switch x := d.(type) {
		case *ast.OperationDefinition:
			c.operation(x)
		case *ast.FragmentDefinition:
			c.name(x.Name, "fragment")
			if x.TypeCondition != nil {
				c.name(x.TypeCondition.Name, "type")
			}
			c.node(1)
			c.directives(x.Directives, 2)
			c.selections(x.SelectionSet, 2)
		default:
			return errorf(CodeBadUserInput, "the document may hold only operations and fragments, not %s", d.GetKind())
		}
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// docCheck walks a document; the first limit it finds exceeded is kept in err and
// stops the walk.
type docCheck struct {
	values int
	weight int // the sum of the depths of the nodes seen
	err    error
}

// node counts a node at depth d in the document's weight.
func (c *docCheck) node(d int) {
	c.weight += d
	if c.weight > MaxWeight {
		c.fail(errorf(CodeQueryTooComplex, "the document weighs more than %d (each field, argument and value counts its depth in the document): ask for less, or pass large inputs as variables", MaxWeight))
	}
}

func (c *docCheck) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *docCheck) name(n *ast.Name, what string) {
	if n != nil && len(n.Value) > MaxNameBytes {
		c.fail(errorf(CodeBadUserInput, "%s name %s... is %d bytes long: at most %d", what, n.Value[:32], len(n.Value), MaxNameBytes))
	}
}

func (c *docCheck) operation(op *ast.OperationDefinition) {
	c.name(op.Name, "operation")
	c.node(1)
	if len(op.VariableDefinitions) > MaxVariables {
		c.fail(errorf(CodeQueryTooComplex, "operation %s declares %d variables: at most %d", nameOf(op.Name), len(op.VariableDefinitions), MaxVariables))
		return
	}
	seen := make(map[string]bool, len(op.VariableDefinitions))
	for _, vd := range op.VariableDefinitions {
		if vd == nil || vd.Variable == nil || vd.Variable.Name == nil {
			continue // variablesTyped refuses these
		}
		c.name(vd.Variable.Name, "variable")
		if c.err != nil {
			return
		}
		if n := vd.Variable.Name.Value; seen[n] {
			c.fail(errorf(CodeBadUserInput, "operation %s declares variable $%s twice", nameOf(op.Name), n))
			return
		} else {
			seen[n] = true
		}
		c.node(2)
		c.typeRef(vd.Type)
		c.value(vd.DefaultValue, 3)
	}
	c.directives(op.Directives, 2)
	c.selections(op.SelectionSet, 2)
}

func (c *docCheck) typeRef(t ast.Type) {
	for c.err == nil {
		switch x := t.(type) {
		case *ast.List:
			t = x.Type
		case *ast.NonNull:
			t = x.Type
		case *ast.Named:
			c.name(x.Name, "type")
			return
		default:
			return
		}
	}
}

// selections checks a selection set at depth d.
func (c *docCheck) selections(set *ast.SelectionSet, d int) {
	if set == nil || c.err != nil {
		return
	}
	c.node(d)
	for _, sel := range set.Selections {
		c.node(d + 1)
		switch x := sel.(type) {
		case *ast.Field:
			c.name(x.Alias, "alias")
			c.name(x.Name, "field")
			c.arguments(x.Arguments, "field "+nameOf(x.Name), d+2)
			c.directives(x.Directives, d+2)
			c.selections(x.SelectionSet, d+2)
		case *ast.FragmentSpread:
			c.name(x.Name, "fragment")
			c.directives(x.Directives, d+2)
		case *ast.InlineFragment:
			if x.TypeCondition != nil {
				c.name(x.TypeCondition.Name, "type")
			}
			c.directives(x.Directives, d+2)
			c.selections(x.SelectionSet, d+2)
		}
		if c.err != nil {
			return
		}
	}
}

// arguments checks the arguments of a field or directive, at depth d.
func (c *docCheck) arguments(args []*ast.Argument, of string, d int) {
	if len(args) > MaxArguments {
		c.fail(errorf(CodeQueryTooComplex, "%s has %d arguments: at most %d", of, len(args), MaxArguments))
		return
	}
	for i, a := range args {
		if a == nil || a.Name == nil {
			continue
		}
		c.name(a.Name, "argument")
		c.node(d)
		for _, b := range args[:i] {
			if b != nil && b.Name != nil && b.Name.Value == a.Name.Value {
				c.fail(errorf(CodeBadUserInput, "%s has argument %s twice", of, a.Name.Value))
			}
		}
		c.value(a.Value, d+1)
		if c.err != nil {
			return
		}
	}
}

// directives checks the directives in one place, at depth d.
func (c *docCheck) directives(ds []*ast.Directive, d int) {
	if len(ds) > MaxDirectives {
		c.fail(errorf(CodeQueryTooComplex, "%d directives in one place: at most %d", len(ds), MaxDirectives))
		return
	}
	for i, x := range ds {
		if x == nil || x.Name == nil {
			continue
		}
		c.name(x.Name, "directive")
		c.node(d)
		for _, e := range ds[:i] {
			if e != nil && e.Name != nil && e.Name.Value == x.Name.Value {
				c.fail(errorf(CodeBadUserInput, "directive @%s given twice in one place", x.Name.Value))
			}
		}
		c.arguments(x.Arguments, "directive @"+nameOf(x.Name), d+1)
		if c.err != nil {
			return
		}
	}
}

// value counts the literal values in v, at depth d. Their depth is bounded by
// MaxNesting already.
func (c *docCheck) value(v ast.Value, d int) {
	if v == nil || c.err != nil {
		return
	}
	c.node(d)
	c.values++
	if c.values > MaxValues {
		c.fail(errorf(CodeQueryTooComplex, "the document writes more than %d values (list items, object fields, ...): pass large inputs as variables", MaxValues))
		return
	}
	switch x := v.(type) {
	case *ast.ListValue:
		for _, item := range x.Values {
			c.value(item, d+1)
		}
	case *ast.ObjectValue:
		for _, f := range x.Fields {
			if f == nil {
				continue
			}
			c.name(f.Name, "input field")
			c.node(d + 1)
			c.value(f.Value, d+2)
		}
	case *ast.EnumValue:
		if len(x.Value) > MaxNameBytes {
			c.fail(errorf(CodeBadUserInput, "enum value %s... is %d bytes long: at most %d", x.Value[:32], len(x.Value), MaxNameBytes))
		}
	case *ast.Variable:
		c.name(x.Name, "variable")
	}
}

func nameOf(n *ast.Name) string {
	if n == nil {
		return "(anonymous)"
	}
	return n.Value
}
