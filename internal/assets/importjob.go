package assets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// An import within the limits (MaxImportRows) takes longer than one API request may
// last: 100,000 rows take minutes on the embedded store. So an import runs as a job of
// the service, outside the request that started it: a client that gives up, or a
// request timeout, never leaves it half done. The caller polls the job (ImportJob) and
// learns its end through the finished callback, once, whatever the outcome: that is
// where the API writes the import's one audit entry.

// ImportState is where an import job is.
type ImportState string

// Import job states.
const (
	ImportRunning ImportState = "RUNNING"
	ImportDone    ImportState = "DONE"   // every row applied or reported
	ImportFailed  ImportState = "FAILED" // stopped (store error, shutdown): the rows not applied are reported
)

// ErrImportRunning refuses a second import while one runs: one at a time bounds the
// memory the parsed rows take and keeps collectors' reports flowing between chunks.
var ErrImportRunning = errors.New("an import is already running")

const (
	keepImports   = 4         // finished jobs kept for their callers to read
	keepImportFor = time.Hour // and for at most this long
)

// ImportStatus is a snapshot of an import job.
type ImportStatus struct {
	ID        string
	Actor     string
	State     ImportState
	Rows      int // data lines in the file: applied, unchanged or reported
	Processed int // lines done so far
	Result    ImportResult
	Err       string // why a FAILED job stopped
	StartedAt time.Time
	// FinishedAt is zero while the job runs.
	FinishedAt time.Time
}

// ImportJob is one running or finished import.
type ImportJob struct {
	mu   sync.Mutex
	st   ImportStatus
	done chan struct{}
}

// Status returns the job's state. Result.Errors is filled once it finished, and never
// changes after: it is shared, not copied.
func (j *ImportJob) Status() ImportStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st
}

// Done is closed when the job has finished.
func (j *ImportJob) Done() <-chan struct{} { return j.done }

// importJobs are a service's import jobs: at most one running, a few finished ones.
type importJobs struct {
	mu   sync.Mutex
	jobs []*ImportJob // oldest first
}

// StartImport parses a CSV file now (a bad header or a file over the limits fails
// here and starts nothing) and applies its rows in the background with import
// authority. finished, when not nil, is called once when the job ends, with its final
// status. A second import while one runs gets ErrImportRunning.
func (s *Service) StartImport(r io.Reader, actor, requestID string, finished func(ImportStatus)) (*ImportJob, error) {
	rows, bad, err := ParseCSV(r)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	j := &ImportJob{done: make(chan struct{}), st: ImportStatus{
		ID: "imp-" + hex.EncodeToString(b), Actor: actor, State: ImportRunning,
		Rows: len(rows) + len(bad), StartedAt: now, Result: ImportResult{Errors: []RowError{}},
	}}
	s.imports.mu.Lock()
	for _, o := range s.imports.jobs {
		if st := o.Status(); st.State == ImportRunning {
			s.imports.mu.Unlock()
			return nil, fmt.Errorf("%w (%s, %d of %d lines done): wait for it", ErrImportRunning, st.ID, st.Processed, st.Rows)
		}
	}
	s.imports.jobs = append(s.imports.jobs, j)
	s.imports.prune(now)
	s.imports.mu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.runImport(j, rows, bad, actor, requestID)
		if finished != nil {
			finished(j.Status())
		}
	}()
	return j, nil
}

// ImportJob returns a job by id, if this service still knows it.
func (s *Service) ImportJob(id string) (ImportStatus, bool) {
	s.imports.mu.Lock()
	defer s.imports.mu.Unlock()
	s.imports.prune(s.opts.Now())
	for _, j := range s.imports.jobs {
		if j.st.ID == id {
			return j.Status(), true
		}
	}
	return ImportStatus{}, false
}

// prune forgets finished jobs beyond the most recent few or older than an hour
// (mu held).
func (ij *importJobs) prune(now time.Time) {
	finished := 0
	keep := ij.jobs[:0]
	for i := len(ij.jobs) - 1; i >= 0; i-- {
		st := ij.jobs[i].Status()
		if st.State != ImportRunning {
			finished++
			if finished > keepImports || now.Sub(st.FinishedAt) > keepImportFor {
				continue
			}
		}
		keep = append(keep, ij.jobs[i])
	}
	slices.Reverse(keep)
	clear(ij.jobs[len(keep):])
	ij.jobs = keep
}

// importChunkDetached writes one chunk whole: a shutdown stops the job between
// chunks, never in the middle of one's writes.
func (s *Service) importChunkDetached(chunk []ImportRow, actor, requestID string, res *ImportResult) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.bgCtx), importChunkTimeout)
	defer cancel()
	return s.importChunk(ctx, chunk, actor, requestID, res)
}

// importChunkTimeout bounds one chunk's writes (a few seconds on the embedded store).
const importChunkTimeout = 2 * time.Minute

// runImport applies the rows chunk by chunk until done, the service closes or the
// store fails; every row not applied is reported with its line.
func (s *Service) runImport(j *ImportJob, rows []ImportRow, bad []RowError, actor, requestID string) {
	res := &ImportResult{Errors: []RowError{}}
	var err error
	for start := 0; start < len(rows); start += importChunk {
		chunk := rows[start:min(start+importChunk, len(rows))]
		var rest []ImportRow // rows not applied and not yet reported
		if s.bgCtx.Err() != nil {
			err, rest = errors.New("the cmdb stopped before the import ended"), rows[start:]
		} else if err = s.importChunkDetached(chunk, actor, requestID, res); err != nil {
			rest = rows[start+len(chunk):] // importChunk reported each row of its chunk
		}
		if err != nil {
			why := "not imported: the import stopped before this row (" + err.Error() + "); importing the file again applies it"
			for _, r := range rest {
				res.Errors = append(res.Errors, RowError{Line: r.Line, Message: why})
			}
			break
		}
		j.mu.Lock()
		j.st.Processed = start + len(chunk)
		j.st.Result.Created, j.st.Result.Updated, j.st.Result.Unchanged = res.Created, res.Updated, res.Unchanged
		j.mu.Unlock()
	}
	res.Errors = append(res.Errors, bad...)
	slices.SortFunc(res.Errors, func(a, b RowError) int { return a.Line - b.Line })
	j.mu.Lock()
	j.st.Result = *res
	j.st.Processed = j.st.Rows
	j.st.State = ImportDone
	if err != nil {
		j.st.State, j.st.Err = ImportFailed, err.Error()
	}
	j.st.FinishedAt = s.opts.Now().UTC()
	j.mu.Unlock()
	close(j.done)
	s.log.Info("import finished", "job", j.st.ID, "actor", actor, "state", j.st.State, "rows", j.st.Rows,
		"created", res.Created, "updated", res.Updated, "unchanged", res.Unchanged, "not_imported", len(res.Errors))
}
