package graphql

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// The ObservationInput of the schema and the wire type observation.Observation are
// written separately and decoded into each other through JSON (decodeBatch): every
// field of one must be a field of the other, of a matching shape, or a collector's
// field would be refused by the schema or silently dropped by the decoder.
func TestObservationInputMatchesTheWireType(t *testing.T) {
	s, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	in, ok := s.Type("ObservationInput").(*gql.InputObject)
	if !ok {
		t.Fatal("no ObservationInput in the schema")
	}
	compareInput(t, "ObservationInput", in, reflect.TypeFor[observation.Observation]())
}

func compareInput(t *testing.T, path string, in *gql.InputObject, st reflect.Type) {
	t.Helper()
	fields := in.Fields()
	seen := map[string]bool{}
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		seen[name] = true
		field, ok := fields[name]
		if !ok {
			t.Errorf("%s: the wire type has %q (%s) and the schema does not", path, name, f.Name)
			continue
		}
		checkInputShape(t, path+"."+name, field.Type, f.Type)
	}
	var extra []string
	for name := range fields {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		t.Errorf("%s: the schema has %q and the wire type does not", path, name)
	}
}

// checkShape compares a schema input type with a Go field type: scalars with their
// kinds, lists with slices, input objects with structs (recursively). Nullability
// is the schema's business: a Go pointer or zero value carries "absent".
func checkInputShape(t *testing.T, path string, gt gql.Input, rt reflect.Type) {
	t.Helper()
	if nn, ok := gt.(*gql.NonNull); ok {
		gt = nn.OfType.(gql.Input)
	}
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch g := gt.(type) {
	case *gql.List:
		if rt.Kind() != reflect.Slice {
			t.Errorf("%s: a list in the schema, %s in the wire type", path, rt)
			return
		}
		checkInputShape(t, path+"[]", g.OfType.(gql.Input), rt.Elem())
	case *gql.InputObject:
		if rt.Kind() != reflect.Struct {
			t.Errorf("%s: input object %s in the schema, %s in the wire type", path, g.Name(), rt)
			return
		}
		compareInput(t, path, g, rt)
	case *gql.Scalar:
		want := map[string][]reflect.Kind{
			"String": {reflect.String}, "ID": {reflect.String}, "Int": {reflect.Int, reflect.Int64, reflect.Int32},
			"Boolean": {reflect.Bool}, "Float": {reflect.Float64},
		}[g.Name()]
		if g.Name() == "Time" {
			if rt != reflect.TypeFor[time.Time]() {
				t.Errorf("%s: Time in the schema, %s in the wire type", path, rt)
			}
			return
		}
		if !slices.Contains(want, rt.Kind()) {
			t.Errorf("%s: %s in the schema, %s in the wire type", path, g.Name(), rt)
		}
	default:
		t.Errorf("%s: unexpected schema type %T", path, gt)
	}
}
