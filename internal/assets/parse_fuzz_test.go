package assets

import (
	"strings"
	"testing"
)

func FuzzParseCSV(f *testing.F) {
	f.Add("asset_tag,manufacturer,serial_number\nT1,Acme,S1\n")
	f.Add("id,notes\na1,\"multi\nline\"\n")
	f.Add("asset_tag,install_date,pm_interval_days,mac_addresses\nT1,2024-02-30,-1,zz\nT2,2024-01-01,30,00:11:22:33:44:55 00-11-22-33-44-66\n")
	f.Add("asset_tag,class\nT1,\"bad\"quote\nT2,VENTILATOR\n")
	f.Add("\ufeffASSET_TAG , Notes\n'=cmd,'+x\n")
	f.Add("asset_tag,name\nT1,a\nT2,\"b\nT3,c\nT4,\"d\" e\nT5,f\n")
	f.Add("asset_tag,name,notes\nT1,\"a\nb\",\"c\nd\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, bad, err := ParseCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		last := 0
		for _, r := range rows {
			if r.Line <= last {
				t.Fatalf("row lines not increasing: %d after %d", r.Line, last)
			}
			last = r.Line
			if err := r.Edit.Validate(); err != nil {
				t.Fatalf("row %d passed parsing but not validation: %v", r.Line, err)
			}
			if r.ID == "" && importKeys(&r.Edit) == nil {
				t.Fatalf("row %d has no identifier", r.Line)
			}
		}
		reported := map[int]bool{}
		for _, b := range bad {
			if b.Message == "" || b.Line < 1 {
				t.Fatalf("row error without line or message: %+v", b)
			}
			if reported[b.Line] {
				t.Fatalf("line %d reported twice", b.Line)
			}
			reported[b.Line] = true
		}
		for _, r := range rows {
			if reported[r.Line] {
				t.Fatalf("line %d both imported and reported", r.Line)
			}
		}
	})
}

func FuzzParseSysLocation(f *testing.F) {
	f.Add("building=Tower A; floor=3; unit=ICU-3; room=312; bed=2")
	f.Add("Bldg: B | Fl: 2 | Ward: 4W | Rm: 12")
	f.Add("Server room, basement")
	f.Add("room==;=;;bed:")
	f.Fuzz(func(t *testing.T, in string) {
		l := ParseSysLocation(in)
		for _, v := range []string{l.Building, l.Floor, l.Unit, l.CareArea, l.Room, l.Bed} {
			if len(v) > maxFieldLen || strings.TrimSpace(v) != v {
				t.Fatalf("field %q from %q", v, in)
			}
		}
	})
}

func TestParseSysLocation(t *testing.T) {
	cases := map[string]Location{
		"building=Tower A; floor=3; unit=ICU-3; care_area=ICU; room=312; bed=2": {Building: "Tower A", Floor: "3", Unit: "ICU-3", CareArea: "ICU", Room: "312", Bed: "2"},
		"Bldg: B | Fl: 2 | Ward: 4W | Rm: 12":                                   {Building: "B", Floor: "2", Unit: "4W", Room: "12"},
		"Server room, basement":                                                 {},
		"":                                                                      {},
	}
	for in, want := range cases {
		if got := ParseSysLocation(in); got != want {
			t.Errorf("ParseSysLocation(%q) = %+v, want %+v", in, got, want)
		}
	}
}
