package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2-community")
	type cfg struct {
		Community Secret `yaml:"community" json:"community"`
	}
	y, _ := yaml.Marshal(cfg{s})
	j, _ := json.Marshal(cfg{s})
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, cfg{s}, cfg{s}, s), string(y), string(j), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "hunter2-community" || Secret("").String() != "" {
		t.Fatal("Reveal or the empty case is wrong")
	}
}
