package assets

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// namedField is a string attribute of an asset by its history/authority name.
type namedField struct {
	name string
	p    *string
}

// stringFields lists the string attributes merges, edits and exports handle alike.
// The names are those of history entries and of the Authority map (dots become "_").
func stringFields(a *Asset) []namedField {
	return []namedField{
		{"name", &a.Name},
		{"manufacturer", &a.Manufacturer},
		{"model", &a.Model},
		{"serialNumber", &a.SerialNumber},
		{"firmwareVersion", &a.FirmwareVersion},
		{"softwareVersion", &a.SoftwareVersion},
		{"sysObjectID", &a.SysObjectID},
		{"sysDescr", &a.SysDescr},
		{"sysName", &a.SysName},
		{"sysLocation", &a.SysLocation},
		{"eui64", &a.EUI64},
		{"hl7App", &a.HL7App},
		{"mdcCode", &a.MDCCode},
		{"site", &a.Site},
		{"location.building", &a.Location.Building},
		{"location.floor", &a.Location.Floor},
		{"location.unit", &a.Location.Unit},
		{"location.careArea", &a.Location.CareArea},
		{"location.room", &a.Location.Room},
		{"location.bed", &a.Location.Bed},
		{"assetTag", &a.Biomed.AssetTag},
		{"owner", &a.Biomed.Owner},
		{"supportGroup", &a.Biomed.SupportGroup},
		{"notes", &a.Biomed.Notes},
	}
}

// fieldOf returns the string attribute called name.
func fieldOf(a *Asset, name string) *string {
	for _, f := range stringFields(a) {
		if f.name == name {
			return f.p
		}
	}
	panic("assets: no string field " + name)
}

// dateFields lists the biomed dates.
func dateFields(a *Asset) []struct {
	name string
	p    *time.Time
} {
	return []struct {
		name string
		p    *time.Time
	}{
		{"installDate", &a.Biomed.InstallDate},
		{"warrantyEnd", &a.Biomed.WarrantyEnd},
		{"lastPM", &a.Biomed.LastPM},
	}
}

// formatDate is how dates appear in history and CSV.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// mergeBiomedDates takes the merged record's dates and PM interval where the
// survivor has none or a weaker source set them.
func mergeBiomedDates(into, from *Asset, chg func(field, before, after string)) {
	fd := dateFields(from)
	for i, f := range dateFields(into) {
		v := *fd[i].p
		if v.IsZero() || v.Equal(*f.p) {
			continue
		}
		if f.p.IsZero() || from.Authority[f.name] > into.Authority[f.name] {
			chg(f.name, formatDate(*f.p), formatDate(v))
			*f.p = v
			into.Authority[f.name] = from.Authority[f.name]
		}
	}
	if from.Biomed.PMIntervalDays != 0 && into.Biomed.PMIntervalDays == 0 {
		chg("pmIntervalDays", "", itoa(from.Biomed.PMIntervalDays))
		into.Biomed.PMIntervalDays = from.Biomed.PMIntervalDays
		into.Authority["pmIntervalDays"] = from.Authority["pmIntervalDays"]
	}
}

// formatRelations renders relations for a history entry, in a stable order.
func formatRelations(rs []Relation) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		p := string(r.Kind) + " " + r.Target
		if r.Port != "" {
			p += " port " + r.Port
		}
		parts = append(parts, p+" ("+r.Source+")")
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// itoa renders a count for history, "" for zero.
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
