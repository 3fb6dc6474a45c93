// Package secret holds the string type for configuration secrets (SNMP communities
// and passphrases, API tokens, webhook signing keys): it prints as <secret> in logs,
// config dumps and %v, and gives its value only when asked with Reveal.
package secret

// Secret is a string that never prints.
type Secret string

const mask = "<secret>"

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return mask
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML hides the value in config dumps.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON hides the value in JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText hides the value from encoders that use TextMarshaler (slog, ...).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the value for the one place that needs it: the wire.
func (s Secret) Reveal() string { return string(s) }
