// Package yamlstrict decodes configuration YAML strictly (unknown keys are errors) and
// makes decoder errors point at the offending line, without ever repeating a secret
// from it.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	lineRef      = regexp.MustCompile(`line (\d+): `)
	unknownField = regexp.MustCompile(`field (\S+) not found in type`)
)

// Decode decodes data into out, rejecting unknown keys. Errors quote the source line
// so that "cannot unmarshal !!str into time.Duration" says which key it was, with the
// values of secret-looking keys (token, community, passphrase, ...) replaced by
// <secret>.
func Decode(data []byte, out any) error {
	return decode(data, data, nil, out)
}

// DecodeEnv expands ${VAR} from the environment (see ExpandEnv), then decodes like
// Decode. Its errors quote the file as written, with ${VAR} unexpanded, and never
// carry a value that came from the environment. It returns the names of variables
// that are not set.
func DecodeEnv(data []byte, out any) ([]string, error) {
	expanded, missing, values := expandEnv(data)
	return missing, decode(expanded, data, values, out)
}

// decode decodes data; errors quote lines of source (the text as written) and have
// the environment's values removed.
func decode(data, source []byte, envValues []string, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(out)
	if err == nil || errors.Is(err, io.EOF) { // io.EOF: an empty document
		return nil
	}
	lines := strings.Split(string(source), "\n")
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = append(msgs, te.Errors...)
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, m := range msgs {
		m = hideValues(m, envValues)
		if sm := lineRef.FindStringSubmatch(m); sm != nil {
			if n, _ := strconv.Atoi(sm[1]); n >= 1 && n <= len(lines) {
				var extra []string
				if f := unknownField.FindStringSubmatch(m); f != nil {
					// A misspelt key ("comunity") may well hold a secret.
					extra = append(extra, f[1])
				}
				line := hideValues(RedactLine(strings.TrimSpace(lines[n-1]), extra...), envValues)
				m = fmt.Sprintf("%s (at %q)", m, line)
			}
		}
		msgs[i] = m
	}
	return fmt.Errorf("decoding: %s", strings.Join(msgs, "; "))
}

// hideValues replaces each value taken from the environment by <secret>: such values
// are secrets by convention (the reason to keep them out of the file).
// Values shorter than 4 bytes are left alone: hiding "2c" would mangle the message
// more than it protects.
func hideValues(s string, values []string) string {
	values = slices.Clone(values)
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) }) // a value inside another goes last
	for _, v := range values {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "<secret>")
		}
	}
	return s
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandEnv replaces ${VAR} with the environment's value, so secrets need not sit in
// configuration files, and returns the names of variables that are not set (they
// expand to ""; the caller decides whether that is an error).
func ExpandEnv(data []byte) ([]byte, []string) {
	out, missing, _ := expandEnv(data)
	return out, missing
}

func expandEnv(data []byte) (out []byte, missing, values []string) {
	out = envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		values = append(values, v)
		return []byte(v)
	})
	return out, missing, values
}
