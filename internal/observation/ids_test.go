package observation

import "testing"

func TestSplitID(t *testing.T) {
	for _, tc := range []struct {
		id     string
		prefix string
		seq    uint64
		ok     bool
	}{
		{"c1-3f2a9c01b2d4-17", "c1-3f2a9c01b2d4-", 17, true},
		{"site-north-1-0a0b0c0d0e0f-1", "site-north-1-0a0b0c0d0e0f-", 1, true},
		{"x-0", "x-", 0, true},
		{"x-007", "", 0, false}, // not canonical: "x-7" is another id
		{"x-18446744073709551616", "", 0, false},
		{"obs-abc", "", 0, false},
		{"17", "", 0, false},
		{"-17", "", 0, false},
		{"x-", "", 0, false},
		{"x-+1", "", 0, false},
	} {
		p, s, ok := SplitID(tc.id)
		if p != tc.prefix || s != tc.seq || ok != tc.ok {
			t.Errorf("SplitID(%q) = %q, %d, %v; want %q, %d, %v", tc.id, p, s, ok, tc.prefix, tc.seq, tc.ok)
		}
	}
}
