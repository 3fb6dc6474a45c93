package graphql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	gql "github.com/graphql-go/graphql"

	"github.com/medcmdb/medcmdb/internal/assets"
)

// importer runs CSV imports as jobs of the asset registry, outside the request that
// starts them (see assets.StartImport).
type importer interface {
	StartImport(r io.Reader, actor, requestID string, finished func(assets.ImportStatus)) (*assets.ImportJob, error)
	ImportJob(id string) (assets.ImportStatus, bool)
}

var (
	importStateEnum = enumOf("AssetImportState", "Where an import job is.",
		[]assets.ImportState{assets.ImportRunning, assets.ImportDone, assets.ImportFailed})

	assetImportType = gql.NewObject(gql.ObjectConfig{
		Name: "AssetImport",
		Description: "A CSV import running in the cmdb, outside the request that started it. DONE: every line " +
			"applied or listed in errors; FAILED: it stopped (error says why) and every line not applied is listed.",
		Fields: gql.Fields{
			"id":          {Type: gql.NewNonNull(gql.ID), Resolve: field(func(s assets.ImportStatus) any { return s.ID })},
			"state":       {Type: gql.NewNonNull(importStateEnum), Resolve: field(func(s assets.ImportStatus) any { return string(s.State) })},
			"actor":       {Type: gql.NewNonNull(gql.String), Resolve: field(func(s assets.ImportStatus) any { return s.Actor })},
			"rows":        {Type: gql.NewNonNull(gql.Int), Description: "Data lines in the file.", Resolve: field(func(s assets.ImportStatus) any { return s.Rows })},
			"processed":   {Type: gql.NewNonNull(gql.Int), Description: "Lines done so far.", Resolve: field(func(s assets.ImportStatus) any { return s.Processed })},
			"created":     {Type: gql.NewNonNull(gql.Int), Resolve: field(func(s assets.ImportStatus) any { return s.Result.Created })},
			"updated":     {Type: gql.NewNonNull(gql.Int), Resolve: field(func(s assets.ImportStatus) any { return s.Result.Updated })},
			"unchanged":   {Type: gql.NewNonNull(gql.Int), Resolve: field(func(s assets.ImportStatus) any { return s.Result.Unchanged })},
			"notImported": {Type: gql.NewNonNull(gql.Int), Resolve: field(func(s assets.ImportStatus) any { return len(s.Result.Errors) })},
			"errors": {Type: nonNullList(importErrorType), Description: "Each line not imported and why, once the job has finished.",
				Resolve: field(func(s assets.ImportStatus) any {
					if s.Result.Errors == nil {
						return []assets.RowError{}
					}
					return s.Result.Errors
				})},
			"error":      {Type: gql.String, Resolve: field(func(s assets.ImportStatus) any { return orNil(s.Err) })},
			"startedAt":  {Type: gql.NewNonNull(timeScalar), Resolve: field(func(s assets.ImportStatus) any { return s.StartedAt })},
			"finishedAt": {Type: timeScalar, Resolve: field(func(s assets.ImportStatus) any { return s.FinishedAt })},
		},
	})
)

// startImport starts an import job for the calling mutation and hands the call's
// audit entry to it: the job records it when it ends, with its counts, whether the
// request is still there or not.
func startImport(ctx context.Context, operation, text string) (*assets.ImportJob, error) {
	r, ok := deps(ctx).Assets.(importer)
	if !ok {
		return nil, errorf(CodeInternal, "the asset registry does not run imports")
	}
	if len(text) > MaxImportBytes {
		return nil, errorf(CodeBadUserInput, "csv: larger than %d bytes: split the file", MaxImportBytes)
	}
	d := deps(ctx)
	entry := auditEntry(ctx, operation)
	finished := func(st assets.ImportStatus) {
		if d == nil || d.Audit == nil {
			return
		}
		e := entry
		e.Target = st.ID
		e.OK = st.State == assets.ImportDone
		e.Error = st.Err
		e.Summary = fmt.Sprintf("rows=%d created=%d updated=%d unchanged=%d not_imported=%d seconds=%.1f",
			st.Rows, st.Result.Created, st.Result.Updated, st.Result.Unchanged, len(st.Result.Errors), st.FinishedAt.Sub(st.StartedAt).Seconds())
		recordAudit(context.Background(), d.Audit, e)
	}
	j, err := r.StartImport(strings.NewReader(text), actor(ctx), RequestID(ctx), finished)
	switch {
	case errors.Is(err, assets.ErrImportRunning):
		return nil, errorf(CodeLimited, "%v", err)
	case err != nil:
		return nil, errorf(CodeBadUserInput, "%v", err)
	}
	takeAudit(ctx)
	return j, nil
}

func init() {
	RegisterMutation("startAssetImport", func() *gql.Field {
		return &gql.Field{Type: gql.NewNonNull(assetImportType),
			Description: "Starts importing assets from CSV (see assetsCSV for the columns) and answers at once; " +
				"read assetImport(id) until it is no longer RUNNING. One import runs at a time; each is audited once, when it ends.",
			Args: gql.FieldConfigArgument{"csv": {Type: gql.NewNonNull(gql.String)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				j, err := startImport(p.Context, "startAssetImport", str(p.Args, "csv"))
				if err != nil {
					return nil, err
				}
				return j.Status(), nil
			}}
	}, editors...)
	RegisterQuery("assetImport", func() *gql.Field {
		return &gql.Field{Type: assetImportType,
			Description: "An import job this cmdb ran in the last hour (the four most recent finished ones are kept).",
			Args:        gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: func(p gql.ResolveParams) (any, error) {
				r, ok := deps(p.Context).Assets.(importer)
				if !ok {
					return nil, errorf(CodeInternal, "the asset registry does not run imports")
				}
				st, ok := r.ImportJob(str(p.Args, "id"))
				if !ok {
					return nil, nil
				}
				return st, nil
			}}
	}, editors...)
}

// importNow runs importAssets: an import job awaited within the request. If the
// request's time runs out first the job goes on, and the answer says where to read it.
func importNow(ctx context.Context, text string) (*assets.ImportResult, error) {
	j, err := startImport(ctx, "importAssets", text)
	if err != nil {
		return nil, err
	}
	var limit <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		// Answer before the request's limit cuts the answer off.
		t := time.NewTimer(time.Until(dl) - 2*time.Second)
		defer t.Stop()
		limit = t.C
	}
	select {
	case <-j.Done():
		st := j.Status()
		if st.State == assets.ImportFailed {
			return nil, errorf(CodeUnavailable, "import %s stopped: %s: %d of %d lines not imported; read assetImport(id: %q) for each line",
				st.ID, st.Err, len(st.Result.Errors), st.Rows, st.ID)
		}
		res := st.Result
		return &res, nil
	case <-ctx.Done():
		return nil, errorf(CodeUnavailable, "the request ended; the import goes on as %s", j.Status().ID)
	case <-limit:
		st := j.Status()
		return nil, errorf(CodeUnavailable, "import %s goes on in the cmdb (%d of %d lines done): read assetImport(id: %q) for its result, or use startAssetImport",
			st.ID, st.Processed, st.Rows, st.ID)
	}
}
