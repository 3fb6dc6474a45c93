package assets

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseCSVReportsEveryLineAQuoteSwallowed: encoding/csv reads an unclosed quote on
// to the end of the file (or to the next quote) as one cell; every line it took is
// reported with its number, not only the first, and the lines before it are imported.
// A quoted note over several lines is still fine. (The old parser reported line 3 and
// silently dropped lines 4-49.)
func TestParseCSVReportsEveryLineAQuoteSwallowed(t *testing.T) {
	rowsOf := func(n int, line3 string) string {
		var b strings.Builder
		b.WriteString("asset_tag,name,notes\n")
		for l := 2; l <= n; l++ {
			switch l {
			case 3:
				b.WriteString(line3 + "\n")
			default:
				fmt.Fprintf(&b, "T%d,name %d,\n", l, l)
			}
		}
		return b.String()
	}
	cases := []struct {
		name, line3 string
		bad         [2]int // first and last line reported
		rows        int    // rows imported
	}{
		{"unclosed to the end", `T3,"pump 3,`, [2]int{3, 49}, 1},
		{"unclosed in notes", `T3,pump 3,"see`, [2]int{3, 49}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, bad, err := ParseCSV(strings.NewReader(rowsOf(49, c.line3)))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != c.rows || rows[0].Line != 2 {
				t.Fatalf("%d rows imported, want %d (line 2)", len(rows), c.rows)
			}
			if len(bad) != c.bad[1]-c.bad[0]+1 {
				t.Fatalf("%d lines reported, want %d-%d: %v", len(bad), c.bad[0], c.bad[1], bad)
			}
			for i, e := range bad {
				if e.Line != c.bad[0]+i || e.Message == "" {
					t.Fatalf("report %d: %+v, want line %d", i, e, c.bad[0]+i)
				}
			}
			if !strings.Contains(bad[0].Message, "lines 3-49 not imported") || !strings.Contains(bad[1].Message, "starts on line 3") {
				t.Fatalf("reports do not say what happened: %q / %q", bad[0].Message, bad[1].Message)
			}
		})
	}
	// The quote meets another one on line 40: lines 3-40 are reported, 41-49 imported.
	text := strings.Replace(rowsOf(49, `T3,"pump 3,`), "T40,name 40,", `T40,"name" 40,`, 1)
	rows, bad, err := ParseCSV(strings.NewReader(text))
	if err != nil || len(bad) != 38 || bad[0].Line != 3 || bad[37].Line != 40 || len(rows) != 10 || rows[1].Line != 41 {
		t.Fatalf("quote closed by a later one: %d rows (second on line %d), %d reported (%v), %v", len(rows), rows[1].Line, len(bad), bad[len(bad)-1], err)
	}
	// A quote closed on the next line inside a name: two lines, both reported.
	rows, bad, err = ParseCSV(strings.NewReader("asset_tag,name,notes\nT2,\"a\nT3\",x\nT4,b,\n"))
	if err != nil || len(rows) != 1 || rows[0].Line != 4 || len(bad) != 2 || bad[0].Line != 2 || bad[1].Line != 3 {
		t.Fatalf("line break in a name: rows %v bad %v err %v", rows, bad, err)
	}
	// Notes may span lines; the next record's line number follows them.
	rows, bad, err = ParseCSV(strings.NewReader("asset_tag,name,notes\nT2,a,\"first\nsecond\"\nT4,b,\n"))
	if err != nil || len(bad) != 0 || len(rows) != 2 || rows[1].Line != 4 || *rows[0].Edit.Notes != "first\nsecond" {
		t.Fatalf("multi-line notes: rows %+v bad %v err %v", rows, bad, err)
	}
}
