package assets

import (
	"strings"
)

// locationKeys maps the keys people write in sysLocation to location fields.
var locationKeys = map[string]string{
	"building": "building", "bldg": "building", "bld": "building",
	"floor": "floor", "fl": "floor", "level": "floor", "lvl": "floor",
	"unit": "unit", "ward": "unit", "dept": "unit", "department": "unit",
	"care_area": "careArea", "carearea": "careArea", "care-area": "careArea", "area": "careArea",
	"room": "room", "rm": "room",
	"bed": "bed",
}

// ParseSysLocation reads a structured sysLocation such as
// "building=Tower A; floor=3; unit=ICU-3; room=312" (separators ';', ',' or '|';
// '=' or ':' between key and value; keys case-insensitive, with common abbreviations).
// Free text without recognised keys gives a zero Location: it stays in sysLocation
// only, because guessing from prose would put devices in the wrong room.
func ParseSysLocation(raw string) Location {
	var l Location
	if len(raw) > 512 {
		return l
	}
	parts := strings.FieldsFunc(raw, func(r rune) bool { return r == ';' || r == ',' || r == '|' })
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			k, v, ok = strings.Cut(p, ":")
		}
		if !ok {
			continue
		}
		field, known := locationKeys[strings.ToLower(strings.TrimSpace(k))]
		v = strings.TrimSpace(v)
		if !known || v == "" || len(v) > maxFieldLen {
			continue
		}
		switch field {
		case "building":
			l.Building = v
		case "floor":
			l.Floor = v
		case "unit":
			l.Unit = v
		case "careArea":
			l.CareArea = v
		case "room":
			l.Room = v
		case "bed":
			l.Bed = v
		}
	}
	return l
}
