package discovery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedProfiles(t *testing.T) {
	ps, err := LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	if ps.Len() < 25 {
		t.Fatalf("%d shipped profiles, want at least 25", ps.Len())
	}
	classes := map[string]bool{}
	for _, p := range ps.list {
		classes[p.Class] = true
	}
	for _, c := range []string{"PATIENT_MONITOR", "INFUSION_PUMP", "VENTILATOR", "LAB_ANALYZER", "IMAGING",
		"NETWORK_SWITCH", "ROUTER", "WIRELESS_AP", "UPS", "PRINTER"} {
		if !classes[c] {
			t.Errorf("no shipped profile for %s", c)
		}
	}
}

func TestProfileMatch(t *testing.T) {
	ps := MustShippedProfiles()
	cases := []struct {
		objectID, descr            string
		class, manufacturer, model string
		firmware                   string
	}{
		{"1.3.6.1.4.1.8072.3.2.10", "Philips IntelliVue MX800 Rev. M.00.03", "PATIENT_MONITOR", "Philips", "IntelliVue MX800", "M.00.03"},
		{"1.3.6.1.4.1.8072.3.2.10", "GE CARESCAPE Monitor B650 version 3.2.1", "PATIENT_MONITOR", "GE Healthcare", "CARESCAPE B650", "3.2.1"},
		{"", "BD Alaris 8015 PC Unit version 12.1.2", "INFUSION_PUMP", "BD", "Alaris 8015", "12.1.2"},
		{"", "Baxter Sigma Spectrum Infusion System v8.01.01", "INFUSION_PUMP", "Baxter", "Spectrum", "8.01.01"},
		{"", "HAMILTON-C6 ventilator v2.3.1", "VENTILATOR", "Hamilton Medical", "HAMILTON-C6", "2.3.1"},
		{"", "Draeger Evita V500 SW 2.51", "VENTILATOR", "Draeger", "Evita V500", "2.51"},
		{"", "Roche cobas 8000 c702 module", "LAB_ANALYZER", "Roche", "cobas 8000", ""},
		{"", "Siemens SOMATOM Force CT scanner", "IMAGING", "Siemens Healthineers", "SOMATOM Force", ""},
		{"1.3.6.1.4.1.9.1.2494", "Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4, C9300-48P", "NETWORK_SWITCH", "Cisco", "", ""},
		{"1.3.6.1.4.1.9.1.1", "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8, RELEASE SOFTWARE (fc1)", "NETWORK_SWITCH", "Cisco", "C2960X", "15.2(7)E8"},
		{"1.3.6.1.4.1.9.1.2", "Cisco IOS Software, ISR4451 Software (X86_64_LINUX_IOSD), Version 16.9.5", "ROUTER", "Cisco", "ISR4451", "16.9.5"},
		{"1.3.6.1.4.1.2636.1.1.1.2.31", "Juniper Networks, Inc. ex4300-48p Ethernet Switch, kernel JUNOS 21.4R3-S4.9", "NETWORK_SWITCH", "Juniper", "ex4300-48p", "21.4R3-S4.9"},
		{"1.3.6.1.4.1.14823.1.2.73", "ArubaOS (MODEL: 515), Version 8.10.0.5", "WIRELESS_AP", "HPE Aruba", "", ""},
		{"1.3.6.1.4.1.318.1.3.27", "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 PN:apc_hw05_aos_682.bin AF1:v6.8.2 AN1:apc_hw05_sumx_682.bin MN:SMT1500RMI2U HR:05 SN: 3A1234X56789 MD:01/02/2019)", "UPS", "APC", "", ""},
		{"1.3.6.1.4.1.318.1.1.1", "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 MN:SMT1500RMI2U)", "UPS", "APC", "SMT1500RMI2U", "6.8.2"},
		{"1.3.6.1.4.1.534.1", "Eaton 9PX UPS", "UPS", "Eaton", "", ""},
		{"1.3.6.1.4.1.11.2.3.9.1", "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012", "PRINTER", "HP", "", ""},
		{"1.3.6.1.4.1.10642.1.1", "ZTC ZT410-203dpi ZPL", "PRINTER", "Zebra", "", ""},
		{"1.3.6.1.4.1.99999.1", "Acme Widget 3000", "OTHER", "", "", ""},
		{"", "", "OTHER", "", "", ""},
	}
	for _, c := range cases {
		fp := ps.Match(c.objectID, c.descr)
		if fp.Class != c.class || fp.Manufacturer != c.manufacturer || (c.model != "" && fp.Model != c.model) || fp.Firmware != c.firmware && c.firmware != "" {
			t.Errorf("Match(%q, %q) = %+v, want class %s manufacturer %q model %q firmware %q",
				c.objectID, c.descr, fp, c.class, c.manufacturer, c.model, c.firmware)
		}
	}
}

func TestUserProfilesOverrideAndValidate(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(`profiles:
  - name: our-pump
    class: INFUSION_PUMP
    manufacturer: Acme Medical
    sys_object_id: 1.3.6.1.4.1.99999
    sys_descr: 'Widget (?P<m>\d+)'
    model: 'Widget ${m}'
`), 0o600)
	ps, err := LoadProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	fp := ps.Match("1.3.6.1.4.1.99999.1", "Acme Widget 3000")
	if fp.Class != "INFUSION_PUMP" || fp.Model != "Widget 3000" || fp.Profile != "our-pump" {
		t.Fatalf("user profile not applied: %+v", fp)
	}
	for name, body := range map[string]string{
		"class":   "profiles:\n  - {name: x, class: TOASTER, sys_descr: a}\n",
		"regex":   "profiles:\n  - {name: x, class: UPS, sys_descr: '(['}\n",
		"nomatch": "profiles:\n  - {name: x, class: UPS}\n",
		"group":   "profiles:\n  - {name: x, class: UPS, sys_descr: 'a', model: '${nope}'}\n",
		"unknown": "profiles:\n  - {name: x, class: UPS, sys_descr: a, colour: red}\n",
	} {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "bad.yaml"), []byte(body), 0o600)
		if _, err := LoadProfiles(d); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
			t.Errorf("%s: error %v, want one naming bad.yaml", name, err)
		}
	}
}
