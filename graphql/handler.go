package graphql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/auth"
)

// Limits bound what one request may cost.
type Limits struct {
	MaxBodyBytes int64
	Timeout      time.Duration
	// Requests per second and burst per token; collectors have their own budget
	// because one of them speaks for a whole site.
	Rate, Burst                   float64
	CollectorRate, CollectorBurst float64
}

// DefaultLimits fit a 5,000-observation batch and any dashboard query.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: 16 << 20, Timeout: 30 * time.Second,
		Rate: 20, Burst: 200, CollectorRate: 200, CollectorBurst: 1000}
}

// Handler serves the GraphQL API over HTTP.
type Handler struct {
	deps       Deps
	authn      Authenticator
	log        *slog.Logger
	limits     Limits
	duration   *prometheus.HistogramVec
	rejected   *prometheus.CounterVec
	cancelled  prometheus.Counter
	schema     gql.Schema
	users      *rateLimiter
	collectors *rateLimiter
}

// NewHandler builds the HTTP handler; metrics go on reg when it is not nil.
func NewHandler(d Deps, a Authenticator, reg prometheus.Registerer, log *slog.Logger, l Limits) (*Handler, error) {
	s, err := Schema()
	if err != nil {
		return nil, err
	}
	h := &Handler{deps: d, authn: a, log: log.With("component", "graphql"), limits: l, schema: s,
		users:      newRateLimiter(l.Rate, l.Burst),
		collectors: newRateLimiter(l.CollectorRate, l.CollectorBurst),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_graphql_rejected_total", Help: "GraphQL requests refused before execution, by reason.",
		}, []string{"reason"}),
		cancelled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medcmdb_graphql_cancelled_total",
			Help: "GraphQL requests given up before their answer because the client went away or their time ran out.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "medcmdb_graphql_request_duration_seconds",
			Help:    "GraphQL request latency by root field (operation).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
	}
	for _, op := range knownOperations() {
		h.duration.WithLabelValues(op)
	}
	for _, r := range []string{CodeUnauthenticated, CodeBadUserInput, CodeQueryTooComplex, CodeLimited} {
		h.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(h.duration, h.rejected, h.cancelled)
	}
	return h, nil
}

// knownOperations are the metric's label values: every root field, plus "invalid".
func knownOperations() []string {
	ops := []string{"invalid", "introspection"}
	for f := range FieldRoles {
		ops = append(ops, f)
	}
	return ops
}

type request struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

type response struct {
	Data   any                        `json:"data,omitempty"`
	Errors []gqlerrors.FormattedError `json:"errors,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Get("query") == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		serveExplorer(w)
		return
	}
	start := time.Now()
	op := "invalid"
	defer func() { h.duration.WithLabelValues(op).Observe(time.Since(start).Seconds()) }()
	reqID := newRequestID()
	defer func() {
		// A panic in the GraphQL library or a resolver is a bug: answer, log, carry on.
		if v := recover(); v != nil {
			h.log.Error("graphql request panicked", "request_id", reqID, "operation", op, "panic", fmt.Sprint(v))
			writeErrors(w, http.StatusInternalServerError, errorf(CodeInternal, "internal error (request %s)", reqID))
		}
	}()
	w.Header().Set("X-Request-Id", reqID)

	principal, err := h.authenticate(r)
	if err != nil {
		code := http.StatusUnauthorized
		if CodeOf(err) == CodeUnavailable {
			code = http.StatusServiceUnavailable
		}
		h.rejected.WithLabelValues(CodeUnauthenticated).Inc()
		writeErrors(w, code, err)
		return
	}
	limiter := h.users
	if principal.Role == auth.RoleCollector {
		limiter = h.collectors
	}
	if !limiter.allow(principal.TokenID + "/" + principal.Name) {
		h.rejected.WithLabelValues(CodeLimited).Inc()
		w.Header().Set("Retry-After", "1")
		writeErrors(w, http.StatusTooManyRequests, errorf(CodeLimited, "too many requests for token %s: slow down", principal.Name))
		return
	}
	req, status, err := h.readRequest(r)
	if err != nil {
		h.refuse(w, status, err)
		return
	}
	// Cheap checks of the text first, then of the parsed document, so that what reaches
	// graphql-go's validator is bounded (limits.go, document.go).
	if len(req.Query) > MaxQueryBytes {
		h.refuse(w, http.StatusRequestEntityTooLarge, errorf(CodeBadUserInput, "query text is %d bytes: at most %d (pass large values as variables)", len(req.Query), MaxQueryBytes))
		return
	}
	if nestingTooDeep(req.Query) {
		h.refuse(w, http.StatusBadRequest, errorf(CodeQueryTooComplex, "query nests brackets deeper than %d", MaxNesting))
		return
	}
	text, longest := breakLines(req.Query)
	if longest > MaxLineBytes {
		h.refuse(w, http.StatusBadRequest, errorf(CodeQueryTooComplex, "the query has %d bytes without a line break or space: at most %d (pass long strings as variables)", longest, MaxLineBytes))
		return
	}
	// Without its source in the document, graphql-go locates an error in constant time
	// instead of scanning the whole query for line breaks; relocate finds the lines.
	doc, err := parser.Parse(parser.ParseParams{
		Source:  source.NewSource(&source.Source{Body: text, Name: "GraphQL request"}),
		Options: parser.ParseOptions{NoSource: true},
	})
	if err != nil {
		h.rejected.WithLabelValues(CodeBadUserInput).Inc()
		writeJSON(w, http.StatusBadRequest, response{Errors: syntaxError(err, req.Query)})
		return
	}
	if err := checkDocument(doc); err != nil {
		h.refuse(w, http.StatusBadRequest, err)
		return
	}
	opDef := operation(doc, req.OperationName)
	if opDef == nil {
		writeErrors(w, http.StatusBadRequest, errorf(CodeBadUserInput, "no operation %q in the document", cut(req.OperationName, 64)))
		return
	}
	if r.Method == http.MethodGet && opDef.Operation != ast.OperationTypeQuery {
		writeErrors(w, http.StatusMethodNotAllowed, errorf(CodeBadUserInput, "mutations need POST"))
		return
	}
	op = rootField(opDef)
	if !variablesTyped(doc) {
		h.refuse(w, http.StatusBadRequest, errorf(CodeBadUserInput, "every variable needs a name and a type"))
		return
	}
	if err := checkShape(doc, opDef, req.Variables); err != nil {
		h.refuse(w, http.StatusBadRequest, err)
		return
	}
	if h.gone(w, r) {
		return
	}
	if errs := validate(&h.schema, doc); len(errs) > 0 {
		relocate(errs, req.Query)
		writeJSON(w, http.StatusBadRequest, response{Errors: boundErrors(tagErrors(errs, CodeBadUserInput))})
		return
	}
	if err := checkVariables(&h.schema, opDef, req.Variables); err != nil {
		h.refuse(w, http.StatusBadRequest, err)
		return
	}
	if h.gone(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.limits.Timeout)
	defer cancel()
	ctx = auth.WithPrincipal(ctx, principal)
	ctx = withDeps(ctx, &h.deps)
	ctx = context.WithValue(ctx, requestKey{}, requestInfo{id: reqID, remote: clientAddr(r)})
	res := gql.Execute(gql.ExecuteParams{
		Schema: h.schema, AST: doc, OperationName: req.OperationName, Args: req.Variables, Context: ctx,
	})
	if h.gone(w, r) {
		return
	}
	relocate(res.Errors, req.Query)
	res.Errors = boundErrors(res.Errors)
	status = http.StatusOK
	if len(res.Errors) > 0 && res.Data == nil {
		res.Errors = tagErrors(res.Errors, CodeBadUserInput)
		status = statusOf(res.Errors)
	}
	for _, e := range res.Errors {
		switch c, _ := e.Extensions["code"].(string); c {
		case CodeInternal:
			h.log.Error("graphql request failed", "operation", op, "err", e.Message)
		case CodeUnavailable:
			var ge *Error
			if errors.As(e.OriginalError(), &ge) && ge.cause != nil {
				h.log.Warn("graphql request failed: store unavailable", "operation", op, "request_id", reqID, "err", ge.cause)
			}
		}
	}
	writeJSON(w, status, response{Data: res.Data, Errors: res.Errors})
}

// stopWhenCancelled makes every field of the schema's own types resolve to an error
// once the request's context is done. graphql-go's Execute returns when the context
// ends, but the goroutine it started goes on resolving every remaining field for a
// client that is gone (or after the time ran out); this turns the rest of that work
// into one check per field.
func stopWhenCancelled(s gql.Schema) {
	for name, t := range s.TypeMap() {
		o, ok := t.(*gql.Object)
		if !ok || strings.HasPrefix(name, "__") {
			continue // introspection types belong to graphql-go and are cheap
		}
		for _, f := range o.Fields() {
			resolve := f.Resolve
			if resolve == nil {
				resolve = gql.DefaultResolveFn
			}
			f.Resolve = func(p gql.ResolveParams) (any, error) {
				if p.Context != nil {
					if err := p.Context.Err(); err != nil {
						return nil, err
					}
				}
				return resolve(p)
			}
		}
	}
}

// refuse answers a request refused before execution, counting why.
func (h *Handler) refuse(w http.ResponseWriter, status int, err error) {
	h.rejected.WithLabelValues(CodeOf(err)).Inc()
	writeErrors(w, status, err)
}

// gone reports whether the request's context ended: the client went away, or the
// cmdb is stopping. The rest of its work is skipped, counted; a client still there is
// told to try again (503: a collector keeps its batch).
func (h *Handler) gone(w http.ResponseWriter, r *http.Request) bool {
	if r.Context().Err() == nil {
		return false
	}
	h.cancelled.Inc()
	writeErrors(w, http.StatusServiceUnavailable, errorf(CodeUnavailable, "request cancelled: the cmdb is stopping; try again"))
	return true
}

// readRequest decodes a GET or POST GraphQL request within the size limit.
func (h *Handler) readRequest(r *http.Request) (*request, int, error) {
	var req request
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		req.Query = q.Get("query")
		req.OperationName = q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if err := decodeJSON(strings.NewReader(v), &req.Variables); err != nil {
				if CodeOf(err) != "" {
					return nil, http.StatusBadRequest, err
				}
				return nil, http.StatusBadRequest, errorf(CodeBadUserInput, "variables: %s", cut(err.Error(), 200))
			}
		}
	case http.MethodPost:
		// Decoded as it is read, its values counted first: no copy of the body but the
		// decoder's, and a body of a million tiny values is refused before it is
		// decoded into a million allocations.
		body := http.MaxBytesReader(nil, r.Body, h.limits.MaxBodyBytes)
		if err := decodeJSON(body, &req); err != nil {
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				return nil, http.StatusRequestEntityTooLarge, errorf(CodeBadUserInput, "request body larger than %d bytes", h.limits.MaxBodyBytes)
			case errors.Is(err, io.EOF):
				return nil, http.StatusBadRequest, errorf(CodeBadUserInput, "empty request body: want {\"query\": ...}")
			case CodeOf(err) != "":
				return nil, http.StatusBadRequest, err
			}
			return nil, http.StatusBadRequest, errorf(CodeBadUserInput, "request body is not GraphQL JSON: %s", cut(err.Error(), 200))
		}
		// Read to the end: only then does net/http watch the connection and cancel the
		// request's context when the client goes away.
		_, _ = io.Copy(io.Discard, body)
	default:
		return nil, http.StatusMethodNotAllowed, errorf(CodeBadUserInput, "use GET or POST")
	}
	if req.Variables == nil {
		req.Variables = map[string]any{}
	}
	req.Variables = denumber(req.Variables).(map[string]any)
	if strings.TrimSpace(req.Query) == "" {
		return nil, http.StatusBadRequest, errorf(CodeBadUserInput, "query is required")
	}
	return &req, 0, nil
}

func (h *Handler) authenticate(r *http.Request) (*auth.Principal, error) {
	hdr := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(hdr, "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return nil, errorf(CodeUnauthenticated, "authentication required: send Authorization: Bearer <token>")
	}
	p, err := h.authn.Authenticate(r.Context(), strings.TrimSpace(secret))
	if errors.Is(err, auth.ErrUnauthenticated) {
		return nil, errorf(CodeUnauthenticated, "invalid or revoked token")
	}
	if err != nil {
		h.log.Warn("authenticating", "err", err)
		return nil, errorf(CodeUnavailable, "cannot check the token now: store unavailable")
	}
	return p, nil
}

// variablesTyped reports whether every variable of every operation in doc has a name
// and a complete type. graphql-go's parser accepts a variable without a type ("$a:") or
// a wrapper around nothing ("$a:!", "$a:[]"), and its validator, which checks every
// operation of the document, then dereferences the missing type (both found by
// FuzzGraphQLRequest).
func variablesTyped(doc *ast.Document) bool {
	for _, d := range doc.Definitions {
		od, ok := d.(*ast.OperationDefinition)
		if !ok {
			continue
		}
		for _, vd := range od.VariableDefinitions {
			if vd == nil || vd.Variable == nil || vd.Variable.Name == nil || !typeComplete(vd.Type) {
				return false
			}
		}
	}
	return true
}

func typeComplete(t ast.Type) bool {
	switch t := t.(type) {
	case *ast.Named:
		return t != nil && t.Name != nil
	case *ast.List:
		return t != nil && typeComplete(t.Type)
	case *ast.NonNull:
		return t != nil && typeComplete(t.Type)
	}
	return false
}

// operation picks the operation to run.
func operation(doc *ast.Document, name string) *ast.OperationDefinition {
	var found *ast.OperationDefinition
	n := 0
	for _, d := range doc.Definitions {
		op, ok := d.(*ast.OperationDefinition)
		if !ok {
			continue
		}
		n++
		if name == "" || (op.Name != nil && op.Name.Value == name) {
			found = op
		}
	}
	if name == "" && n > 1 {
		return nil
	}
	return found
}

// rootField names an operation by its first root field, a bounded label.
func rootField(op *ast.OperationDefinition) string {
	if op.SelectionSet == nil {
		return "invalid"
	}
	for _, s := range op.SelectionSet.Selections {
		if f, ok := s.(*ast.Field); ok && f.Name != nil {
			name := f.Name.Value
			if strings.HasPrefix(name, "__") {
				return "introspection"
			}
			if _, ok := FieldRoles[name]; ok {
				return name
			}
			return "invalid"
		}
	}
	return "invalid"
}

// statusOf picks the HTTP status of a failed request from its worst error, so that a
// collector can tell "retry later" (5xx) from "this will never work" (4xx).
func statusOf(errs []gqlerrors.FormattedError) int {
	status := http.StatusBadRequest
	for _, e := range errs {
		switch e.Extensions["code"] {
		case CodeInternal:
			return http.StatusInternalServerError
		case CodeUnavailable:
			status = http.StatusServiceUnavailable
		case CodeUnauthenticated:
			if status == http.StatusBadRequest {
				status = http.StatusUnauthorized
			}
		case CodeForbidden:
			if status == http.StatusBadRequest {
				status = http.StatusForbidden
			}
		case CodeNotFound:
			if status == http.StatusBadRequest {
				status = http.StatusNotFound
			}
		}
	}
	return status
}

func tagErrors(errs []gqlerrors.FormattedError, code string) []gqlerrors.FormattedError {
	for i := range errs {
		if errs[i].Extensions == nil {
			errs[i].Extensions = map[string]any{"code": code}
		}
	}
	return errs
}

func writeErrors(w http.ResponseWriter, status int, err error) {
	fe := gqlerrors.FormatError(err)
	fe.Extensions = map[string]any{"code": CodeOf(err)}
	writeJSON(w, status, response{Errors: []gqlerrors.FormattedError{fe}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type requestKey struct{}

type requestInfo struct{ id, remote string }

// RequestID returns the id of the API request in ctx ("" outside one); history and
// audit records carry it so that a change can be traced to the call that made it.
func RequestID(ctx context.Context) string {
	ri, _ := ctx.Value(requestKey{}).(requestInfo)
	return ri.id
}

func remoteAddr(ctx context.Context) string {
	ri, _ := ctx.Value(requestKey{}).(requestInfo)
	return ri.remote
}

// clientAddr is the caller's address; behind a reverse proxy, the first X-Forwarded-For
// hop as well, since the proxy's own address says nothing.
func clientAddr(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(first) + " via " + r.RemoteAddr
	}
	return r.RemoteAddr
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
