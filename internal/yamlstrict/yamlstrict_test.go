package yamlstrict

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeNamesTheLine(t *testing.T) {
	var v struct {
		Poll time.Duration `yaml:"poll_interval"`
		Name string        `yaml:"name"`
	}
	err := Decode([]byte("name: x\npoll_interval: often\n"), &v)
	if err == nil || !strings.Contains(err.Error(), `poll_interval: often`) {
		t.Fatalf("error %v does not quote the offending line", err)
	}
	if err := Decode([]byte("nmae: x\n"), &v); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := Decode([]byte(""), &v); err != nil {
		t.Fatalf("empty document: %v", err)
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("YS_SET", "value")
	out, missing := ExpandEnv([]byte("a: ${YS_SET}\nb: ${YS_UNSET_ONE}\nc: $NOT_A_REF\n"))
	if string(out) != "a: value\nb: \nc: $NOT_A_REF\n" || len(missing) != 1 || missing[0] != "YS_UNSET_ONE" {
		t.Fatalf("got %q, missing %v", out, missing)
	}
}
