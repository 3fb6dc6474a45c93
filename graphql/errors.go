package graphql

import (
	"errors"
	"fmt"
	"time"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
)

// Error codes in extensions.code.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeInternal        = "INTERNAL_SERVER_ERROR"
	CodeUnavailable     = "SERVICE_UNAVAILABLE"
	CodeLimited         = "RATE_LIMITED"
	CodeQueryTooComplex = "QUERY_TOO_COMPLEX"
)

// Error is a GraphQL error with an extensions.code.
type Error struct {
	Code string
	Msg  string
	// cause is what went wrong underneath, for the log only: driver messages are no
	// business of an API client.
	cause error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Extensions implements gqlerrors.ExtendedError.
func (e *Error) Extensions() map[string]any { return map[string]any{"code": e.Code} }

func errorf(code, format string, a ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// CodeOf returns the code of an error made here, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// timeScalar is the RFC 3339 Time scalar.
var timeScalar = gql.NewScalar(gql.ScalarConfig{
	Name:        "Time",
	Description: "An instant in RFC 3339 format, UTC.",
	Serialize: func(v any) any {
		switch t := v.(type) {
		case time.Time:
			if t.IsZero() {
				return nil
			}
			return t.UTC().Format(time.RFC3339Nano)
		case *time.Time:
			if t == nil || t.IsZero() {
				return nil
			}
			return t.UTC().Format(time.RFC3339Nano)
		}
		return nil
	},
	ParseValue: func(v any) any {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil
		}
		return t
	},
	ParseLiteral: func(v ast.Value) any {
		s, ok := v.(*ast.StringValue)
		if !ok {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, s.Value)
		if err != nil {
			return nil
		}
		return t
	},
})
