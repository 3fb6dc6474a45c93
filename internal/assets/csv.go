package assets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CSV is the bulk format of assets: what export writes, import reads. Import sets the
// columns it knows (empty cell = leave as is) and ignores the read-only ones, so an
// exported file can be edited and imported back.

// csvColumns are the columns, in export order.
var csvColumns = []string{
	"id", "asset_tag", "name", "class", "status", "manufacturer", "model", "serial_number", "eui64",
	"mac_addresses", "ip_addresses", "firmware_version", "site", "building", "floor", "unit", "care_area",
	"room", "bed", "owner", "support_group", "install_date", "warranty_end", "pm_interval_days", "last_pm",
	"next_pm_due", "notes", "risk_score", "recalls", "first_seen_at", "last_seen_at",
}

// readOnlyColumns are exported for reading and ignored by import.
var readOnlyColumns = []string{"ip_addresses", "next_pm_due", "risk_score", "recalls", "first_seen_at", "last_seen_at"}

// MaxImportRows bounds one import.
const MaxImportRows = 100_000

// ImportRow is one parsed CSV row.
type ImportRow struct {
	Line int // 1-based line in the file, header = 1
	ID   string
	Edit Edit
}

// RowError says why one row was not imported.
type RowError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// ParseCSV reads an asset CSV. A bad header fails the whole file; a bad row becomes a
// RowError and the other rows are returned.
func ParseCSV(r io.Reader) ([]ImportRow, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("csv: empty file: want a header line naming the columns")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("csv header: %w", err)
	}
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(csvColumns, h) {
			return nil, nil, fmt.Errorf("csv header: unknown column %q (known: %s)", h, strings.Join(csvColumns, ", "))
		}
		if slices.Contains(cols[:i], h) {
			return nil, nil, fmt.Errorf("csv header: column %q appears twice", h)
		}
		cols[i] = h
	}
	var rows []ImportRow
	var bad []RowError
	lastErr := 0 // start line of the last parse error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) || pe.StartLine <= lastErr {
				return rows, bad, fmt.Errorf("csv: %w", err)
			}
			lastErr = pe.StartLine
			// encoding/csv reads an unclosed quote on to the end of the file (or to
			// the next quote): every line it swallowed is reported, not only the first.
			bad = append(bad, spanErrors(pe.StartLine, max(pe.Line, pe.StartLine), pe.Err.Error())...)
			if len(rows)+len(bad) > MaxImportRows {
				return rows, bad, fmt.Errorf("csv: more than %d rows: split the file", MaxImportRows)
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		last, _ := cr.FieldPos(len(rec) - 1)
		end := last + strings.Count(rec[len(rec)-1], "\n") // the record's last line
		if len(rows)+len(bad) >= MaxImportRows {
			return rows, bad, fmt.Errorf("csv: more than %d rows: split the file", MaxImportRows)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if len(rec) != len(cols) {
			bad = append(bad, spanErrors(line, end, fmt.Sprintf("%d cells, header has %d columns", len(rec), len(cols)))...)
			continue
		}
		if i := strayLineBreak(cols, rec); i >= 0 {
			bad = append(bad, spanErrors(line, end, fmt.Sprintf("a line break in the %s cell: only notes may span lines", cols[i]))...)
			continue
		}
		row, err := parseRow(cols, rec)
		if err != nil {
			bad = append(bad, RowError{Line: line, Message: err.Error()})
			continue
		}
		row.Line = line
		rows = append(rows, row)
	}
	return rows, bad, nil
}

// spanErrors reports a bad record that runs from line start to line end: the first
// line with why, each following one as swallowed by it.
func spanErrors(start, end int, why string) []RowError {
	if end <= start {
		return []RowError{{Line: start, Message: why}}
	}
	out := make([]RowError, 0, end-start+1)
	out = append(out, RowError{Line: start, Message: fmt.Sprintf("%s; the record runs on to line %d (a quote not closed?): lines %d-%d not imported", why, end, start, end)})
	for l := start + 1; l <= end; l++ {
		out = append(out, RowError{Line: l, Message: fmt.Sprintf("not imported: inside the record that starts on line %d (a quote not closed?)", start)})
	}
	return out
}

// strayLineBreak returns the first column other than notes whose cell holds a line
// break, or -1: a quote left open in one row swallows the next rows into one cell, and
// no identifier, name or date has a line break.
func strayLineBreak(cols, rec []string) int {
	for i, c := range cols {
		if c != "notes" && strings.ContainsAny(rec[i], "\r\n") {
			return i
		}
	}
	return -1
}

// parseRow turns one record into a validated edit.
func parseRow(cols, rec []string) (ImportRow, error) {
	var row ImportRow
	e := &row.Edit
	var errs []error
	str := func(dst **string, v string) { *dst = &v }
	date := func(dst **time.Time, name, v string) {
		t, err := parseDate(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		*dst = &t
	}
	for i, c := range cols {
		v := unescapeCell(strings.TrimSpace(rec[i]))
		if v == "" || slices.Contains(readOnlyColumns, c) {
			continue
		}
		switch c {
		case "id":
			row.ID = v
		case "asset_tag":
			str(&e.AssetTag, v)
		case "name":
			str(&e.Name, v)
		case "class":
			cl := Class(strings.ToUpper(v))
			e.Class = &cl
		case "status":
			st := Status(strings.ToUpper(v))
			e.Status = &st
		case "manufacturer":
			str(&e.Manufacturer, v)
		case "model":
			str(&e.Model, v)
		case "serial_number":
			str(&e.SerialNumber, v)
		case "eui64":
			str(&e.EUI64, v)
		case "mac_addresses":
			macs := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ';' || r == '|' })
			e.MACs = &macs
		case "firmware_version":
			str(&e.FirmwareVersion, v)
		case "site":
			str(&e.Site, v)
		case "building":
			str(&e.Building, v)
		case "floor":
			str(&e.Floor, v)
		case "unit":
			str(&e.Unit, v)
		case "care_area":
			str(&e.CareArea, v)
		case "room":
			str(&e.Room, v)
		case "bed":
			str(&e.Bed, v)
		case "owner":
			str(&e.Owner, v)
		case "support_group":
			str(&e.SupportGroup, v)
		case "notes":
			str(&e.Notes, v)
		case "install_date":
			date(&e.InstallDate, c, v)
		case "warranty_end":
			date(&e.WarrantyEnd, c, v)
		case "last_pm":
			date(&e.LastPM, c, v)
		case "pm_interval_days":
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("pm_interval_days %q: not a whole number of days", v))
				continue
			}
			e.PMIntervalDays = &n
		}
	}
	if err := errors.Join(errs...); err != nil {
		return row, err
	}
	if err := e.Validate(); err != nil {
		return row, err
	}
	if row.ID == "" && importKeys(e) == nil {
		return row, errors.New("no identifier: give id, asset_tag, eui64, manufacturer+serial_number or mac_addresses")
	}
	return row, nil
}

func parseDate(v string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.RFC3339, "2006/01/02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return dateOnly(t), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD", v)
}

// importKeys returns the identifiers an import row names, strongest first.
func importKeys(e *Edit) []key {
	var keys []key
	if e.AssetTag != nil {
		if k := tagKey(*e.AssetTag); k != "" {
			keys = append(keys, key{RankAssetTag, k})
		}
	}
	if e.EUI64 != nil {
		if n := NormalizeEUI64(*e.EUI64); n != "" {
			keys = append(keys, key{RankEUI64, "eui64:" + n})
		}
	}
	if e.Manufacturer != nil && e.SerialNumber != nil {
		if k := serialKey(*e.Manufacturer, *e.SerialNumber); k != "" {
			keys = append(keys, key{RankSerial, k})
		}
	}
	if e.MACs != nil {
		for _, m := range *e.MACs {
			if n := NormalizeMAC(m); n != "" {
				keys = append(keys, key{RankMAC, "mac:" + n})
			}
		}
	}
	return keys
}

// Spreadsheets run cells that start with these as formulas: exported cells that do
// get a leading apostrophe, which import strips again.
const formulaStarts = "=+-@\t\r"

func escapeCell(v string) string {
	if v != "" && strings.ContainsRune(formulaStarts, rune(v[0])) {
		return "'" + v
	}
	return v
}

func unescapeCell(v string) string {
	if len(v) > 1 && v[0] == '\'' && strings.ContainsRune(formulaStarts, rune(v[1])) {
		return v[1:]
	}
	return v
}

// WriteCSV writes assets in the CSV format, with their recalls' references.
func WriteCSV(w io.Writer, list []*Asset, recallsFor func(*Asset) []*Recall) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	rec := make([]string, len(csvColumns))
	for _, a := range list {
		var refs []string
		for _, r := range recallsFor(a) {
			refs = append(refs, r.Reference)
		}
		l, bm := a.Location, a.Biomed
		vals := []string{
			a.ID, bm.AssetTag, a.Name, string(a.Class), string(a.Status), a.Manufacturer, a.Model, a.SerialNumber, a.EUI64,
			strings.Join(a.MACAddresses, " "), strings.Join(a.IPAddresses, " "), a.FirmwareVersion, a.Site,
			l.Building, l.Floor, l.Unit, l.CareArea, l.Room, l.Bed, bm.Owner, bm.SupportGroup,
			formatDate(bm.InstallDate), formatDate(bm.WarrantyEnd), itoa(bm.PMIntervalDays), formatDate(bm.LastPM),
			formatDate(bm.NextPMDue()), bm.Notes, strconv.Itoa(a.RiskScore), strings.Join(refs, " "),
			a.FirstSeenAt.UTC().Format(time.RFC3339), "",
		}
		if !a.LastSeenAt.IsZero() {
			vals[len(vals)-1] = a.LastSeenAt.UTC().Format(time.RFC3339)
		}
		for i, v := range vals {
			rec[i] = escapeCell(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
