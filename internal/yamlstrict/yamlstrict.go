// Package yamlstrict decodes configuration YAML strictly (unknown keys are errors) and
// makes decoder errors point at the offending line.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var lineRef = regexp.MustCompile(`line (\d+): `)

// Decode decodes data into out, rejecting unknown keys. Errors quote the source line
// so that "cannot unmarshal !!str into time.Duration" says which key it was.
func Decode(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(out)
	if err == nil || errors.Is(err, io.EOF) { // io.EOF: an empty document
		return nil
	}
	lines := strings.Split(string(data), "\n")
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, m := range msgs {
		if sm := lineRef.FindStringSubmatch(m); sm != nil {
			if n, _ := strconv.Atoi(sm[1]); n >= 1 && n <= len(lines) {
				msgs[i] = fmt.Sprintf("%s (at %q)", m, strings.TrimSpace(lines[n-1]))
			}
		}
	}
	return fmt.Errorf("decoding: %s", strings.Join(msgs, "; "))
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandEnv replaces ${VAR} with the environment's value, so secrets need not sit in
// configuration files, and returns the names of variables that are not set (they
// expand to ""; the caller decides whether that is an error).
func ExpandEnv(data []byte) ([]byte, []string) {
	var missing []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	return out, missing
}
