package discovery

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/medcmdb/medcmdb/internal/snmpber"
	"github.com/medcmdb/medcmdb/internal/yamlstrict"
)

// Fingerprinting is data, not code: profiles map a sysObjectID prefix and a sysDescr
// pattern to manufacturer, model and class. The shipped profiles are embedded in the
// binary; a user directory adds (and, on equal specificity, overrides) them.

//go:embed profiles/*.yaml
var shippedProfiles embed.FS

// AssetClasses are the class names the cmdb knows (CONTRACT AssetClass).
var AssetClasses = []string{"PATIENT_MONITOR", "INFUSION_PUMP", "VENTILATOR", "ANESTHESIA_MACHINE",
	"LAB_ANALYZER", "IMAGING", "NETWORK_SWITCH", "ROUTER", "WIRELESS_AP", "UPS", "PRINTER",
	"HL7_GATEWAY", "SERVER", "WORKSTATION", "OTHER"}

// ClassOther is what an unknown device is.
const ClassOther = "OTHER"

// Profile is one fingerprint.
type Profile struct {
	Name         string `yaml:"name"`
	Class        string `yaml:"class"`
	Manufacturer string `yaml:"manufacturer"`
	// Model and Firmware may use ${name} groups of the sysDescr pattern.
	Model    string `yaml:"model"`
	Firmware string `yaml:"firmware"`
	// SysObjectID is an OID prefix: it matches itself and everything under it.
	SysObjectID string `yaml:"sys_object_id"`
	// SysDescr is a regular expression (RE2) searched in sysDescr.
	SysDescr string `yaml:"sys_descr"`
	// Priority breaks ties between profiles of equal specificity; higher wins.
	Priority int `yaml:"priority"`

	re     *regexp.Regexp
	arcs   int
	source string // file it came from, for error messages
	order  int
}

type profileFile struct {
	Profiles []Profile `yaml:"profiles"`
}

// Fingerprint is what profiles say about a device.
type Fingerprint struct {
	Profile      string
	Class        string
	Manufacturer string
	Model        string
	Firmware     string
}

// Profiles is a compiled, immutable set of profiles.
type Profiles struct {
	list []*Profile
}

// LoadProfiles compiles the shipped profiles plus every *.yaml in dir (if not empty).
func LoadProfiles(dir string) (*Profiles, error) {
	var all []*Profile
	var errs []error
	// User profiles come first so that they win ties with shipped ones.
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("snmp.profiles.dir: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ps, err := parseProfiles(path, data)
			if err != nil {
				errs = append(errs, err)
			}
			all = append(all, ps...)
		}
	}
	err := fs.WalkDir(shippedProfiles, "profiles", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := shippedProfiles.ReadFile(path)
		if err != nil {
			return err
		}
		ps, err := parseProfiles("(shipped) "+path, data)
		if err != nil {
			errs = append(errs, err)
		}
		all = append(all, ps...)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, p := range all {
		p.order = i
	}
	return &Profiles{list: all}, nil
}

// MustShippedProfiles returns the embedded profiles; they are tested, so an error is a
// build defect.
func MustShippedProfiles() *Profiles {
	p, err := LoadProfiles("")
	if err != nil {
		panic(err)
	}
	return p
}

// parseProfiles decodes and validates one profile file.
func parseProfiles(source string, data []byte) ([]*Profile, error) {
	var f profileFile
	if err := yamlstrict.Decode(data, &f); err != nil {
		return nil, fmt.Errorf("profiles %s: %w", source, err)
	}
	var out []*Profile
	var errs []error
	for i := range f.Profiles {
		p := &f.Profiles[i]
		p.source = source
		if err := p.compile(); err != nil {
			errs = append(errs, fmt.Errorf("profiles %s: profile %d (%q): %w", source, i, p.Name, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func (p *Profile) compile() error {
	if p.Name == "" {
		return errors.New("name is required")
	}
	if !slices.Contains(AssetClasses, p.Class) {
		return fmt.Errorf("class %q is not one of %s", p.Class, strings.Join(AssetClasses, " "))
	}
	if p.SysObjectID == "" && p.SysDescr == "" {
		return errors.New("needs sys_object_id or sys_descr")
	}
	if p.SysObjectID != "" {
		p.SysObjectID = strings.TrimPrefix(p.SysObjectID, ".")
		if _, err := snmpber.EncodeOID(p.SysObjectID); err != nil {
			return fmt.Errorf("sys_object_id: %w", err)
		}
		p.arcs = strings.Count(p.SysObjectID, ".") + 1
	}
	if p.SysDescr != "" {
		re, err := regexp.Compile(p.SysDescr)
		if err != nil {
			return fmt.Errorf("sys_descr: %w", err)
		}
		p.re = re
	}
	for _, t := range []string{p.Model, p.Firmware} {
		for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(t, -1) {
			if p.re == nil || p.re.SubexpIndex(m[1]) < 0 {
				return fmt.Errorf("template %q uses group %q that sys_descr does not define", t, m[1])
			}
		}
	}
	return nil
}

// score says how specific a matching profile is; -1 when it does not match.
func (p *Profile) score(objectID, descr string) (int, []int) {
	s := 0
	if p.SysObjectID != "" {
		if objectID != p.SysObjectID && !strings.HasPrefix(objectID, p.SysObjectID+".") {
			return -1, nil
		}
		s += p.arcs
	}
	var m []int
	if p.re != nil {
		if m = p.re.FindStringSubmatchIndex(descr); m == nil {
			return -1, nil
		}
		// A description pattern names a product; an enterprise prefix only a vendor.
		s += 20
	}
	return s*100 + p.Priority, m
}

// Match returns the best fingerprint for a device, or one with class OTHER.
func (ps *Profiles) Match(objectID, descr string) Fingerprint {
	objectID = strings.TrimPrefix(objectID, ".")
	var best *Profile
	var bestM []int
	bestScore := -1
	if ps != nil {
		for _, p := range ps.list {
			s, m := p.score(objectID, descr)
			if s > bestScore {
				best, bestM, bestScore = p, m, s
			}
		}
	}
	if best == nil {
		return Fingerprint{Class: ClassOther}
	}
	fp := Fingerprint{Profile: best.Name, Class: best.Class, Manufacturer: best.Manufacturer}
	expand := func(t string) string {
		if t == "" || bestM == nil {
			return t
		}
		return sanitize(string(best.re.ExpandString(nil, t, descr, bestM)))
	}
	fp.Model = expand(best.Model)
	fp.Firmware = expand(best.Firmware)
	return fp
}

// Len returns the number of profiles.
func (ps *Profiles) Len() int { return len(ps.list) }
