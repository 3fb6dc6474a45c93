package assets

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// ImportResult is what an import did.
type ImportResult struct {
	Created   int        `json:"created"`
	Updated   int        `json:"updated"`
	Unchanged int        `json:"unchanged"`
	Errors    []RowError `json:"errors"`
}

// importChunk is how many rows one write batch holds: the writer lock is released
// between chunks so collectors' reports interleave with a large import.
const importChunk = 500

// Import applies parsed CSV rows with import authority (below manual edits, above
// discovery). Each row applies whole or not at all: a row that names an unknown id,
// whose identifiers point at two assets, or that would take an identifier another
// asset holds becomes a RowError and changes nothing.
func (s *Service) Import(ctx context.Context, rows []ImportRow, actor, requestID string) (*ImportResult, error) {
	res := &ImportResult{Errors: []RowError{}}
	for start := 0; start < len(rows); start += importChunk {
		chunk := rows[start:min(start+importChunk, len(rows))]
		if err := s.importChunk(ctx, chunk, actor, requestID, res); err != nil {
			for _, r := range rows[start+len(chunk):] {
				res.Errors = append(res.Errors, RowError{Line: r.Line, Message: "not imported: an earlier chunk failed to save"})
			}
			return res, err
		}
	}
	slices.SortFunc(res.Errors, func(a, b RowError) int { return a.Line - b.Line })
	return res, nil
}

// ImportCSV parses and imports a CSV file; row errors of both steps are reported.
func (s *Service) ImportCSV(ctx context.Context, r io.Reader, actor, requestID string) (*ImportResult, error) {
	rows, bad, err := ParseCSV(r)
	if err != nil {
		return nil, err
	}
	res, err := s.Import(ctx, rows, actor, requestID)
	if res != nil {
		res.Errors = append(res.Errors, bad...)
		slices.SortFunc(res.Errors, func(a, b RowError) int { return a.Line - b.Line })
	}
	return res, err
}

func (s *Service) importChunk(ctx context.Context, rows []ImportRow, actor, requestID string, res *ImportResult) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.newBatch()
	var created, updated, unchanged int
	var applied []int // lines applied in this chunk
	for i := range rows {
		row := &rows[i]
		n, err := s.importRow(b, row, actor, requestID)
		if err != nil {
			res.Errors = append(res.Errors, RowError{Line: row.Line, Message: err.Error()})
			continue
		}
		applied = append(applied, row.Line)
		switch n {
		case rowCreated:
			created++
		case rowUpdated:
			updated++
		default:
			unchanged++
		}
	}
	if err := s.persist(ctx, b); err != nil {
		s.rebuildIndex()
		for _, l := range applied {
			res.Errors = append(res.Errors, RowError{Line: l, Message: "not saved: " + err.Error()})
		}
		return err
	}
	s.publish(b)
	res.Created += created
	res.Updated += updated
	res.Unchanged += unchanged
	return nil
}

type rowOutcome int

const (
	rowUnchanged rowOutcome = iota
	rowCreated
	rowUpdated
)

// importRow applies one row to the batch, or nothing (wmu held).
func (s *Service) importRow(b *batch, row *ImportRow, actor, requestID string) (rowOutcome, error) {
	var target *Asset
	if row.ID != "" {
		if target = b.get(s.survivor(row.ID)); target == nil {
			return 0, fmt.Errorf("asset id %q not found", row.ID)
		}
	} else {
		var hits []string
		for _, k := range importKeys(&row.Edit) {
			if id, ok := s.ix.lookup(k); ok && !slices.Contains(hits, id) {
				hits = append(hits, id)
			}
		}
		if len(hits) > 1 {
			return 0, fmt.Errorf("identifiers match %d different assets (%s): fix the row or merge them first", len(hits), strings.Join(hits, ", "))
		}
		if len(hits) == 1 {
			target = b.get(hits[0])
			if err := identifierClash(target, &row.Edit); err != nil {
				return 0, err
			}
		}
	}
	var scratch *Asset
	if target != nil {
		scratch = target.Clone()
		s.ix.remove(target)
	} else {
		scratch = &Asset{
			ID: newID(b.now), Class: ClassOther, Status: StatusUnknown,
			IPAddresses: []string{}, MACAddresses: []string{}, Sources: []string{"IMPORT"},
			FirstSeenAt: b.now, Authority: map[string]Authority{},
		}
	}
	changes := applyEdit(scratch, &row.Edit, AuthImport, b.now, s.statusRule())
	if err := s.keyConflict(target, scratch); err != nil {
		if target != nil {
			s.ix.add(target)
		}
		return 0, err
	}
	s.ix.add(scratch)
	rec := func(field, before, after string) {
		b.record(scratch, Change{At: b.now, Source: "IMPORT", Actor: actor, RequestID: requestID, Field: field, Before: before, After: after})
	}
	outcome := rowUpdated
	if target == nil {
		b.work[scratch.ID] = scratch
		b.prev[scratch.ID] = 0
		b.order = append(b.order, scratch.ID)
		b.created = append(b.created, scratch.ID)
		rec("created", "", "IMPORT line "+strconv.Itoa(row.Line))
		outcome = rowCreated
	} else {
		b.work[scratch.ID] = scratch
		if !slices.Contains(scratch.Sources, "IMPORT") {
			scratch.Sources = append(scratch.Sources, "IMPORT")
			slices.Sort(scratch.Sources)
			b.persist[scratch.ID] = true
		}
		if len(changes) == 0 {
			outcome = rowUnchanged
		}
	}
	for _, c := range changes {
		rec(c.field, c.before, c.after)
	}
	return outcome, nil
}

// identifierClash refuses a row matched through one identifier that gives the asset
// another value of a second one (e.g. the serial of one pump under another tag): that
// is a typo or two devices, and guessing which would corrupt one of them. Changing an
// identifier on purpose takes the id column.
func identifierClash(a *Asset, e *Edit) error {
	check := func(col, cur string, v *string, normalize func(string) string) error {
		if v == nil || cur == "" || normalize(*v) == "" || normalize(*v) == normalize(cur) {
			return nil
		}
		return fmt.Errorf("%s %q differs from %q of the asset %s it matched: give the id column to change it", col, *v, cur, a.ID)
	}
	if err := check("asset_tag", a.Biomed.AssetTag, e.AssetTag, norm); err != nil {
		return err
	}
	if err := check("eui64", a.EUI64, e.EUI64, NormalizeEUI64); err != nil {
		return err
	}
	if e.Manufacturer == nil || norm(*e.Manufacturer) == norm(a.Manufacturer) {
		return check("serial_number", a.SerialNumber, e.SerialNumber, norm)
	}
	return nil
}

// ExportCSV writes the assets matching f as CSV.
func (s *Service) ExportCSV(w io.Writer, f Filter) error {
	list, _ := s.List(f, 0, int(^uint(0)>>1))
	return WriteCSV(w, list, s.RecallsFor)
}
