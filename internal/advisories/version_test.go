package advisories

import (
	"testing"
)

func TestCompare(t *testing.T) {
	// Each row is strictly older than the next.
	ordered := []string{
		"1", "1.2", "1.2.9", "1.10", "2.0-alpha", "2.0-beta2", "2.0rc1", "2.0", "2.0a", "2.0b", "2.0.1",
		"2.4", "2.4.1 (build 7)", "2.4.2", "V2.10", "v10.0", "R12.1", "2026.01.15",
	}
	for i := range ordered {
		for j := range ordered {
			a, err := ParseVersion(ordered[i])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := ParseVersion(ordered[j])
			want := sign(i - j)
			if got := Compare(a, b); got != want {
				t.Errorf("Compare(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	equal := [][2]string{{"2.4", "2.4.0"}, {"2.4", "2.4.0.0"}, {"04.02.0017", "4.2.17"}, {"V2.4", "2.4"}, {"2.4-RC1", "2.4rc1"},
		{"3.1_beta", "3.1-beta"}, {"100000000000000000000001", "100000000000000000000001.0"}}
	for _, e := range equal {
		a, _ := ParseVersion(e[0])
		b, _ := ParseVersion(e[1])
		if Compare(a, b) != 0 || Compare(b, a) != 0 {
			t.Errorf("%q and %q should be equal", e[0], e[1])
		}
	}
	for _, bad := range []string{"", "   ", "abc", "v", "beta"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		rng     string
		in, out []string
	}{
		{"", []string{"0.1", "99"}, nil},
		{"*", []string{"1.0"}, nil},
		{">= 2.0, < 2.4.1", []string{"2.0", "2.0.0", "2.3.99", "2.4", "2.4.0", "2.4.1-rc1"}, []string{"1.9.9", "2.0-rc1", "2.4.1", "2.4.1a", "3"}},
		{"< 1.8 || >= 3.0, < 3.0.7", []string{"1.7.3", "3.0", "3.0.6"}, []string{"1.8", "2.5", "3.0.7"}},
		{"2.3.x", []string{"2.3", "2.3.0", "2.3.17", "2.3a"}, []string{"2.2.9", "2.4", "2.30"}},
		{"2.0.*", []string{"2.0", "2.0.5"}, []string{"2.1", "2.5"}},
		{"=4.2.17", []string{"04.02.0017", "4.2.17.0"}, []string{"4.2.18"}},
		{"!= 5.0", []string{"4.9", "5.0.1"}, []string{"5", "5.0.0"}},
		{"<=1.2, >1.0", []string{"1.1", "1.2"}, []string{"1.0", "1.2.1"}},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", tt.rng, err)
		}
		for _, v := range tt.in {
			pv, err := ParseVersion(v)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Contains(pv) {
				t.Errorf("%q should contain %q", tt.rng, v)
			}
		}
		for _, v := range tt.out {
			pv, _ := ParseVersion(v)
			if r.Contains(pv) {
				t.Errorf("%q should not contain %q", tt.rng, v)
			}
		}
	}
	for _, bad := range []string{">=", "2.0,", "||", ">= 2.0 || ", "<2.x", "> beta", ">=2.0, <<3"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{">= 2.0, < 2.4.1", "< 1.8 || >= 3.0", "2.3.x", "*", "", "!=5", "V2.10a", "3.1-rc2"} {
		f.Add(s, "2.4.0")
	}
	f.Fuzz(func(t *testing.T, rng, ver string) {
		r, err := ParseRange(rng)
		v, verr := ParseVersion(ver)
		if err != nil || verr != nil {
			return
		}
		_ = r.Contains(v)
	})
}

// FuzzCompare checks that Compare is a total order on what ParseVersion accepts.
func FuzzCompare(f *testing.F) {
	for _, s := range [][3]string{{"1.2", "1.10", "2.0rc1"}, {"2.0a", "2.0", "2.0.1"}, {"V2", "r2.0", "2-beta"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, x, y, z string) {
		a, e1 := ParseVersion(x)
		b, e2 := ParseVersion(y)
		c, e3 := ParseVersion(z)
		if e1 != nil || e2 != nil || e3 != nil {
			return
		}
		if Compare(a, a) != 0 {
			t.Fatalf("%q != itself", x)
		}
		if Compare(a, b) != -Compare(b, a) {
			t.Fatalf("Compare(%q, %q) not antisymmetric", x, y)
		}
		if Compare(a, b) <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", x, y, z, x, z)
		}
	})
}
