// Package yamlstrict decodes configuration YAML strictly (unknown keys are errors) and
// makes decoder errors point at the offending line.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
