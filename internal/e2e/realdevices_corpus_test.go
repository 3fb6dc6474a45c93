package e2e

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/yamlstrict"
)

// The real-device corpus: snmprec recordings of real equipment with, next to each,
// what a person expects the CMDB to show (testdata/realdevices/README.md). This file
// loads and checks the corpus and scores what the CMDB shows against it; the
// end-to-end run is in realdevices_test.go.

const corpusDir = "testdata/realdevices"

// corpusFields are the scored fields, in report order.
var corpusFields = []string{"class", "manufacturer", "model", "serial", "firmware"}

// corpusKinds are the report's rows, in order.
var corpusKinds = []string{"network-switch", "router-firewall", "wireless", "clinical-comms", "power", "printer", "computer", "environment"}

type corpusSource struct {
	Repository string `yaml:"repository"`
	Path       string `yaml:"path"`
	Commit     string `yaml:"commit"`
	License    string `yaml:"license"`
	Trimmed    string `yaml:"trimmed"`
}

type corpusDevice struct {
	ID        string              `yaml:"id"`
	Kind      string              `yaml:"kind"`
	Recording string              `yaml:"recording"`
	Source    corpusSource        `yaml:"source"`
	Expect    map[string]string   `yaml:"expect"`
	Accept    map[string][]string `yaml:"accept"`
	Evidence  map[string]string   `yaml:"evidence"`
	Notes     string              `yaml:"notes"`
}

// loadCorpus reads and checks every expectation file of dir.
func loadCorpus(dir string) ([]corpusDevice, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var devs []corpusDevice
	var errs []error
	for _, name := range names {
		if filepath.Base(name) == "floor.yaml" {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d corpusDevice
		if err := yamlstrict.Decode(data, &d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if err := d.check(dir, strings.TrimSuffix(filepath.Base(name), ".yaml")); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		devs = append(devs, d)
	}
	if len(devs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("no expectation files in %s", dir))
	}
	return devs, errors.Join(errs...)
}

func (d *corpusDevice) check(dir, base string) error {
	var errs []error
	if d.ID != base || d.Recording != base+".snmprec" {
		errs = append(errs, fmt.Errorf("id %q and recording %q must match the file name %q", d.ID, d.Recording, base))
	}
	if !slices.Contains(corpusKinds, d.Kind) {
		errs = append(errs, fmt.Errorf("kind %q is not one of %v", d.Kind, corpusKinds))
	}
	if d.Source.Repository == "" || d.Source.Path == "" || d.Source.License == "" || d.Source.Trimmed == "" {
		errs = append(errs, errors.New("source needs repository, path, license and trimmed"))
	}
	for k := range d.Expect {
		if !slices.Contains(corpusFields, k) {
			errs = append(errs, fmt.Errorf("expect.%s is not one of %v", k, corpusFields))
		}
	}
	if !slices.Contains(discovery.AssetClasses, d.Expect["class"]) {
		errs = append(errs, fmt.Errorf("expect.class %q is not an AssetClass", d.Expect["class"]))
	}
	for k, alts := range d.Accept {
		if d.Expect[k] == "" || len(alts) == 0 {
			errs = append(errs, fmt.Errorf("accept.%s without an expected %s", k, k))
		}
	}
	for _, k := range corpusFields {
		if d.Expect[k] != "" && d.Evidence[k] == "" {
			errs = append(errs, fmt.Errorf("expect.%s has no evidence.%s", k, k))
		}
	}
	if _, err := readSnmprec(filepath.Join(dir, d.Recording)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// snmprecTypes are the value tags snmpsim 0.4.5 reads (the "x" suffix: hex-encoded).
var snmprecTypes = []string{"2", "4", "4x", "5", "6", "64", "64x", "65", "66", "67", "70"}

// readSnmprec checks a recording: "oid|tag|value" lines, numeric OIDs in strictly
// ascending order, known tags, well-formed values. It returns the rows.
func readSnmprec(path string) ([][3]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][3]string
	var prev []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d: not oid|tag|value", path, n)
		}
		oid, err := parseOID(parts[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if prev != nil && slices.Compare(prev, oid) >= 0 {
			return nil, fmt.Errorf("%s:%d: %s is not after the previous OID", path, n, parts[0])
		}
		prev = oid
		if !slices.Contains(snmprecTypes, parts[1]) {
			return nil, fmt.Errorf("%s:%d: tag %q (variation modules are not recorded data)", path, n, parts[1])
		}
		if err := checkSnmprecValue(parts[1], parts[2]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		rows = append(rows, [3]string(parts))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return rows, nil
}

func parseOID(s string) ([]int, error) {
	var arcs []int
	for _, a := range strings.Split(s, ".") {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad OID %q", s)
		}
		arcs = append(arcs, n)
	}
	if len(arcs) < 2 {
		return nil, fmt.Errorf("bad OID %q", s)
	}
	return arcs, nil
}

func checkSnmprecValue(tag, v string) error {
	switch tag {
	case "4x", "64x":
		if _, err := hex.DecodeString(v); err != nil {
			return fmt.Errorf("tag %s value is not hex: %w", tag, err)
		}
	case "2":
		_, err := strconv.ParseInt(v, 10, 32)
		return err
	case "65", "66", "67":
		_, err := strconv.ParseUint(v, 10, 32)
		return err
	case "70":
		_, err := strconv.ParseUint(v, 10, 64)
		return err
	case "6":
		_, err := parseOID(v)
		return err
	case "5":
		if v != "" {
			return errors.New("null with a value")
		}
	}
	return nil
}

// Comparison rules (README.md of the corpus): class exact; manufacturer through the
// alias table below; model and serial ignoring case, and for models also runs of
// space, '-' and '_'; firmware ignoring case and a leading "v", and it may go on after
// the expected version with a separator (" ,(;/"), so "v5.6.4,build1575" is 5.6.4
// but 5.6.41 and 5.6.4.1 are not. accept lists the other spellings a person would
// also take for a device; nothing else is fuzzy.

// vendorAliases maps normalised spellings to one key. HP (HP Inc., printers) and HPE
// (Hewlett Packard Enterprise, Aruba, servers) are different companies since 2015;
// devices sold as HP before the split accept both in their own expectation.
var vendorAliases = map[string]string{
	"cisco": "cisco", "cisco systems": "cisco",
	"hp": "hp", "hewlett-packard": "hp", "hewlett packard": "hp", "hp inc": "hp",
	"hpe": "hpe", "hewlett packard enterprise": "hpe", "hpe aruba": "hpe", "aruba": "hpe", "aruba networks": "hpe",
	"aruba a hewlett packard enterprise company": "hpe",
	"apc": "apc", "american power conversion": "apc", "schneider electric": "apc", "apc by schneider electric": "apc",
	"eaton": "eaton", "powerware": "eaton", "eaton powerware": "eaton", "mge": "eaton", "mge ups systems": "eaton",
	"vertiv": "vertiv", "liebert": "vertiv", "emerson network power": "vertiv", "vertiv liebert": "vertiv",
	"geist": "geist", "vertiv geist": "geist",
	"cyberpower": "cyberpower", "cyber power": "cyberpower", "cyber power systems": "cyberpower", "cps": "cyberpower",
	"minuteman": "minuteman", "para systems": "minuteman",
	"riello": "riello", "riello ups": "riello", "rps": "riello", "rps spa": "riello",
	"socomec": "socomec",
	"huawei":  "huawei", "huawei technologies": "huawei",
	"palo alto networks": "paloalto", "palo alto": "paloalto", "paloalto": "paloalto",
	"fortinet": "fortinet",
	"juniper":  "juniper", "juniper networks": "juniper",
	"ubiquiti": "ubiquiti", "ubiquiti networks": "ubiquiti", "ubnt": "ubiquiti",
	"dell": "dell", "dell emc": "dell", "dell technologies": "dell",
	"akcp":  "akcp",
	"ascom": "ascom", "ascom wireless solutions": "ascom",
	"brother": "brother", "brother industries": "brother",
	"konica minolta": "konicaminolta", "konica minolta business solutions": "konicaminolta",
	"kyocera": "kyocera", "kyocera document solutions": "kyocera", "kyocera mita": "kyocera",
	"ricoh": "ricoh", "xerox": "xerox",
	"zebra": "zebra", "zebra technologies": "zebra",
}

var (
	corporateSuffix = regexp.MustCompile(`\b(inc|incorporated|co|ltd|limited|corp|corporation|company|gmbh|ag|sa|spa|s p a|llc|plc)$`)
	nonWord         = regexp.MustCompile(`[^a-z0-9+&/ -]+`)
	spaces          = regexp.MustCompile(`\s+`)
	modelSep        = regexp.MustCompile(`[\s_-]+`)
)

// vendorKey is the alias-table key of a manufacturer name, or its normalised form.
func vendorKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = nonWord.ReplaceAllString(s, " ")
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	for {
		t := strings.TrimSpace(corporateSuffix.ReplaceAllString(s, ""))
		if t == s || t == "" {
			break
		}
		s = t
	}
	if k, ok := vendorAliases[s]; ok {
		return k
	}
	return s
}

func normModel(s string) string {
	return strings.TrimSpace(modelSep.ReplaceAllString(strings.ToLower(s), " "))
}

func normFirmware(s string) string {
	s = strings.ToLower(strings.TrimSpace(spaces.ReplaceAllString(s, " ")))
	if len(s) > 1 && s[0] == 'v' && s[1] >= '0' && s[1] <= '9' {
		s = s[1:]
	}
	return s
}

// fieldMatches says whether got is right for the field, given the expected value and
// its accepted alternatives. An empty got is never right.
func fieldMatches(field, want string, accept []string, got string) bool {
	if strings.TrimSpace(got) == "" {
		return false
	}
	for _, w := range append([]string{want}, accept...) {
		switch field {
		case "class":
			if got == w {
				return true
			}
		case "manufacturer":
			if vendorKey(got) == vendorKey(w) {
				return true
			}
		case "model":
			if normModel(got) == normModel(w) {
				return true
			}
		case "serial":
			if strings.EqualFold(strings.TrimSpace(got), strings.TrimSpace(w)) {
				return true
			}
		case "firmware":
			g, e := normFirmware(got), normFirmware(w)
			if g == e || (strings.HasPrefix(g, e) && strings.ContainsRune(" ,(;/", rune(g[len(e)]))) {
				return true
			}
		}
	}
	return false
}

// shownAsset is what the CMDB shows of one asset.
type shownAsset struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Class           string   `json:"class"`
	Manufacturer    string   `json:"manufacturer"`
	Model           string   `json:"model"`
	SerialNumber    string   `json:"serialNumber"`
	FirmwareVersion string   `json:"firmwareVersion"`
	SoftwareVersion string   `json:"softwareVersion"`
	SysObjectID     string   `json:"sysObjectID"`
	IPAddresses     []string `json:"ipAddresses"`
}

func (a *shownAsset) field(f string) string {
	if a == nil {
		return ""
	}
	switch f {
	case "class":
		return a.Class
	case "manufacturer":
		return a.Manufacturer
	case "model":
		return a.Model
	case "serial":
		return a.SerialNumber
	case "firmware":
		return a.FirmwareVersion
	}
	return ""
}

// tally is right-of-carried for one row of the report.
type tally map[string][2]int

func (t tally) add(field string, right bool) {
	c := t[field]
	c[1]++
	if right {
		c[0]++
	}
	t[field] = c
}

// corpusScore is the result of comparing the CMDB with the corpus.
type corpusScore struct {
	byKind  map[string]tally
	total   tally
	devices int
	misses  []string // one line per wrong or missing value
	extras  []string // values shown where the recording carries none (not scored)
}

// scoreCorpus compares the assets (keyed by the device id) with the expectations.
func scoreCorpus(devs []corpusDevice, shown map[string]*shownAsset) corpusScore {
	s := corpusScore{byKind: map[string]tally{}, total: tally{}, devices: len(devs)}
	for _, d := range devs {
		a := shown[d.ID]
		if s.byKind[d.Kind] == nil {
			s.byKind[d.Kind] = tally{}
		}
		for _, f := range corpusFields {
			want, got := d.Expect[f], a.field(f)
			if want == "" {
				if got != "" && f != "class" {
					s.extras = append(s.extras, fmt.Sprintf("%s %s: shows %q, recording carries none", d.ID, f, got))
				}
				continue
			}
			ok := fieldMatches(f, want, d.Accept[f], got)
			s.byKind[d.Kind].add(f, ok)
			s.total.add(f, ok)
			if !ok {
				shownAs := fmt.Sprintf("%q", got)
				if a == nil {
					shownAs = "no asset"
				}
				s.misses = append(s.misses, fmt.Sprintf("%s %s: got %s, want %q (%s)", d.ID, f, shownAs, want, d.Evidence[f]))
			}
		}
	}
	return s
}

func pct(c [2]int) string {
	if c[1] == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%d%%)", c[0], c[1], c[0]*100/c[1])
}

// markdown renders the score as the report's tables and lists.
func (s corpusScore) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| kind | devices | class | manufacturer | model | serial | firmware |\n|---|---|---|---|---|---|---|\n")
	row := func(name string, n int, t tally) {
		fmt.Fprintf(&b, "| %s | %d |", name, n)
		for _, f := range corpusFields {
			fmt.Fprintf(&b, " %s |", pct(t[f]))
		}
		b.WriteString("\n")
	}
	for _, k := range corpusKinds {
		if t := s.byKind[k]; t != nil {
			row(k, t["class"][1], t)
		}
	}
	row("**all**", s.devices, s.total)
	fmt.Fprintf(&b, "\nRight of the devices whose recording carries the value.\n\n### Misses (%d)\n\n", len(s.misses))
	for _, m := range s.misses {
		fmt.Fprintf(&b, "- %s\n", m)
	}
	if len(s.extras) > 0 {
		fmt.Fprintf(&b, "\n### Values shown where the recording carries none (not scored, %d)\n\n", len(s.extras))
		for _, m := range s.extras {
			fmt.Fprintf(&b, "- %s\n", m)
		}
	}
	return b.String()
}

// shownTable lists what the CMDB shows for every recording, expected values in
// brackets where they differ: the raw material of the diagnosis.
func shownTable(devs []corpusDevice, shown map[string]*shownAsset) string {
	var b strings.Builder
	b.WriteString("| id | class | manufacturer | model | serial | firmware | softwareVersion |\n|---|---|---|---|---|---|---|\n")
	for _, d := range devs {
		a := shown[d.ID]
		fmt.Fprintf(&b, "| %s |", d.ID)
		for _, f := range corpusFields {
			got, want := a.field(f), d.Expect[f]
			cell := strings.ReplaceAll(got, "|", "/")
			if want != "" && !fieldMatches(f, want, d.Accept[f], got) {
				cell += " [" + want + "]"
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		sw := ""
		if a != nil {
			sw = a.SoftwareVersion
		}
		fmt.Fprintf(&b, " %s |\n", strings.ReplaceAll(sw, "|", "/"))
	}
	return b.String()
}

// corpusFloor is the minimum the collector must keep: right counts per field, and the
// number of devices carrying each value when the floor was set (a corpus change must
// update the floor knowingly).
type corpusFloor struct {
	Devices int               `yaml:"devices"`
	Fields  map[string][2]int `yaml:"fields"` // field: [right, of]
}

func loadFloor(path string) (corpusFloor, error) {
	var fl corpusFloor
	data, err := os.ReadFile(path)
	if err != nil {
		return fl, err
	}
	if err := yamlstrict.Decode(data, &fl); err != nil {
		return fl, fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range corpusFields {
		if _, ok := fl.Fields[f]; !ok {
			return fl, fmt.Errorf("%s: fields.%s missing", path, f)
		}
	}
	return fl, nil
}

// below lists what falls under the floor (and a corpus that no longer matches it).
func (s corpusScore) below(fl corpusFloor) []string {
	var out []string
	if s.devices != fl.Devices {
		out = append(out, fmt.Sprintf("the corpus has %d devices, the floor was set on %d: update floor.yaml", s.devices, fl.Devices))
	}
	for _, f := range corpusFields {
		got, min := s.total[f], fl.Fields[f]
		if got[1] != min[1] {
			out = append(out, fmt.Sprintf("%s: %d devices carry it, the floor was set on %d: update floor.yaml", f, got[1], min[1]))
		}
		if got[0] < min[0] {
			out = append(out, fmt.Sprintf("%s: %d right, below the floor of %d", f, got[0], min[0]))
		}
	}
	return out
}

// TestRealDevicesCorpus checks the corpus itself: every recording well-formed and
// sorted, every expectation complete with its evidence and provenance, one for one.
func TestRealDevicesCorpus(t *testing.T) {
	devs, err := loadCorpus(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := filepath.Glob(filepath.Join(corpusDir, "*.snmprec"))
	if len(recs) != len(devs) {
		t.Errorf("%d recordings but %d expectation files", len(recs), len(devs))
	}
	if len(devs) < 45 {
		t.Errorf("corpus has %d devices, want at least 45", len(devs))
	}
	kinds := map[string]int{}
	for _, d := range devs {
		kinds[d.Kind]++
		rows, err := readSnmprec(filepath.Join(corpusDir, d.Recording))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r[0] == "1.3.6.1.2.1.1.5.0" && r[2] == "<private>" {
				t.Errorf("%s: sysName is still the anonymised placeholder", d.ID)
			}
		}
	}
	for _, k := range corpusKinds {
		if kinds[k] == 0 {
			t.Errorf("no device of kind %s", k)
		}
	}
	if _, err := loadFloor(filepath.Join(corpusDir, "floor.yaml")); err != nil {
		t.Error(err)
	}
}

// TestRealDevicesCorpusRejects: the checks refuse what snmpsim would misread or what
// would make the expectations meaningless.
func TestRealDevicesCorpusRejects(t *testing.T) {
	for name, rec := range map[string]string{
		"unsorted":  "1.3.6.1.2.1.1.5.0|4|b\n1.3.6.1.2.1.1.1.0|4|a\n",
		"duplicate": "1.3.6.1.2.1.1.1.0|4|a\n1.3.6.1.2.1.1.1.0|4|a\n",
		"numeric":   "1.3.6.1.2.1.1.10.0|4|a\n1.3.6.1.2.1.1.9.0|4|a\n",
		"variation": "1.3.6.1.2.1.1.3.0|67:numeric|rate=100\n",
		"bad hex":   "1.3.6.1.2.1.1.1.0|4x|4a5\n",
		"bad int":   "1.3.6.1.2.1.1.7.0|2|seventy\n",
		"no value":  "1.3.6.1.2.1.1.1.0|4\n",
		"empty":     "",
	} {
		path := filepath.Join(t.TempDir(), "r.snmprec")
		writeFile(t, path, rec)
		if _, err := readSnmprec(path); err == nil {
			t.Errorf("%s: accepted %q", name, rec)
		}
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.snmprec"), "1.3.6.1.2.1.1.1.0|4|a\n")
	writeFile(t, filepath.Join(dir, "x.yaml"), "id: x\nkind: printer\nrecording: x.snmprec\n"+
		"source: {repository: r, path: p, license: l, trimmed: t}\nexpect: {class: PRINTER, model: M}\n")
	if _, err := loadCorpus(dir); err == nil || !strings.Contains(err.Error(), "evidence.model") {
		t.Errorf("a model without evidence: %v", err)
	}
	writeFile(t, filepath.Join(dir, "x.yaml"), "id: x\nkind: printer\nrecording: x.snmprec\n"+
		"source: {repository: r, path: p, license: l, trimmed: t}\nexpect: {class: PRINTERS}\n")
	if _, err := loadCorpus(dir); err == nil || !strings.Contains(err.Error(), "AssetClass") {
		t.Errorf("an unknown class: %v", err)
	}
}

// TestRealDevicesMatching pins the comparison rules: lenient where a person would
// be, strict elsewhere.
func TestRealDevicesMatching(t *testing.T) {
	for _, c := range []struct {
		field, want string
		accept      []string
		got         string
		ok          bool
	}{
		{"class", "ROUTER", nil, "ROUTER", true},
		{"class", "ROUTER", nil, "NETWORK_SWITCH", false},
		{"manufacturer", "Cisco", nil, "Cisco Systems, Inc.", true},
		{"manufacturer", "Cisco", nil, "cisco", true},
		{"manufacturer", "HPE", nil, "HPE Aruba", true},
		{"manufacturer", "HPE", nil, "Hewlett Packard Enterprise", true},
		{"manufacturer", "HPE", nil, "HP", false},
		{"manufacturer", "HPE", []string{"HP"}, "Hewlett-Packard", true},
		{"manufacturer", "CyberPower", nil, "CPS", true},
		{"manufacturer", "Riello", nil, "RPS SpA", true},
		{"manufacturer", "Palo Alto Networks", nil, "Palo Alto Networks, Inc.", true},
		{"manufacturer", "Vertiv", nil, "Liebert", true},
		{"manufacturer", "APC", nil, "Eaton", false},
		{"manufacturer", "Cisco", nil, "", false},
		{"model", "FGT_501E", nil, "fgt 501e", true},
		{"model", "C9300-48P", nil, "C9300", false},
		{"model", "C9300-48P", nil, "C9300-48P-E", false},
		{"model", "MP 3053", nil, "RICOH MP 3053", false},
		{"serial", "FCW2204L050", nil, " fcw2204l050 ", true},
		{"serial", "FCW2204L050", nil, "FCW2204L05", false},
		{"firmware", "5.6.4", nil, "v5.6.4,build1575,180425 (GA)", true},
		{"firmware", "5.6.4", nil, "5.6.41", false},
		{"firmware", "5.6.4", nil, "5.6.4.1", false},
		{"firmware", "16.6.7", nil, "0.1", false},
		{"firmware", "16.6.7", []string{"Everest 16.6.7"}, "Everest 16.6.7", true},
		{"firmware", "15.0(2)SE7", nil, "15.0(2)SE7, RELEASE SOFTWARE (fc1)", true},
		{"firmware", "V4.38", nil, "v4.38", true},
	} {
		if got := fieldMatches(c.field, c.want, c.accept, c.got); got != c.ok {
			t.Errorf("%s: want %q accept %q, got %q: match %v, want %v", c.field, c.want, c.accept, c.got, got, c.ok)
		}
	}
}
