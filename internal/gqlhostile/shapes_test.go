package gqlhostile

import (
	"encoding/json"
	"testing"
)

// Every shape makes a JSON body of about the size asked for.
func TestShapesFit(t *testing.T) {
	const limit = 1 << 20
	for _, s := range Shapes() {
		n := Fit(s, limit)
		b := s.Body(n)
		if len(b) > limit || (n > 1 && len(b) < limit*9/10) {
			t.Errorf("%s: Fit gave n=%d, %d bytes for a limit of %d", s.Name, n, len(b), limit)
		}
		if !json.Valid(b) || !json.Valid(s.Body(3)) {
			t.Errorf("%s: body is not JSON", s.Name)
		}
	}
}
