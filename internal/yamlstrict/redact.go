package yamlstrict

import (
	"regexp"
	"strings"
)

// secretWords mark a key whose value is not to be repeated: SNMP communities and
// passphrases, API tokens, webhook secrets and headers, private keys. Keys such as
// auth_protocol are hidden too: better a protocol name hidden than a passphrase shown.
var secretWords = []string{"token", "community", "passphrase", "password", "passwd", "secret", "auth",
	"priv", "key", "cookie", "signature", "header"}

var (
	urlUserinfo  = regexp.MustCompile(`(://[^:/@\s]*:)[^@/\s]*@`)
	urlSecretArg = regexp.MustCompile(`(?i)([?&][^=&\s]*(?:token|key|secret|pass|sig|auth)[^=&\s]*=)[^&\s"',}\]]*`)
)

// RedactLine returns a line of YAML with the value of every secret-looking key, and
// of the extra keys, replaced by <secret>, in block ("token: x") and flow ("{token:
// x, retries: 2}") style, quoted or not; URL passwords and secret-looking URL
// parameters are hidden too. It reads one line without the rest of the document, so
// it errs towards hiding.
func RedactLine(line string, extra ...string) string {
	var out strings.Builder
	depth := 0 // flow collections open at this point of the line
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == ',':
			out.WriteByte(c)
			i++
			continue
		case c == '[' || c == '{':
			depth++
			out.WriteByte(c)
			i++
			continue
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
			out.WriteByte(c)
			i++
			continue
		case (c == '-' || c == '?') && (i+1 == len(line) || line[i+1] == ' '):
			out.WriteByte(c) // sequence entry or complex key indicator
			i++
			continue
		}
		end := scalarEnd(line, i, depth, true)
		tok := line[i:end]
		if k, ok := colonAfter(line, end, depth); ok {
			out.WriteString(line[i : k+1])
			i = k + 1
			if secretKey(unquote(tok), extra) {
				for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
					out.WriteByte(line[i])
					i++
				}
				if v := valueEnd(line, i, depth); v > i {
					out.WriteString("<secret>")
					i = v
				}
			}
			continue
		}
		out.WriteString(urlSecretArg.ReplaceAllString(urlUserinfo.ReplaceAllString(tok, "${1}<secret>@"), "${1}<secret>"))
		i = max(end, i+1)
	}
	return out.String()
}

// colonAfter reports whether the scalar ending at i is a mapping key: spaces, then a
// colon followed by a space, the end of the line or (in a flow) a flow indicator. It
// returns the colon's index.
func colonAfter(line string, i, depth int) (int, bool) {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i >= len(line) || line[i] != ':' {
		return 0, false
	}
	if i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t' || (depth > 0 && strings.IndexByte(",[]{}", line[i+1]) >= 0) {
		return i, true
	}
	return 0, false
}

// scalarEnd returns where the scalar starting at i ends: after its closing quote, or,
// for a plain scalar, before ": ", " #" or (in a flow) a flow indicator. asKey stops a
// plain scalar at a key's colon.
func scalarEnd(line string, i, depth int, asKey bool) int {
	switch line[i] {
	case '"':
		for j := i + 1; j < len(line); j++ {
			if line[j] == '\\' {
				j++
			} else if line[j] == '"' {
				return j + 1
			}
		}
		return len(line)
	case '\'':
		for j := i + 1; j < len(line); j++ {
			if line[j] == '\'' {
				if j+1 < len(line) && line[j+1] == '\'' {
					j++
					continue
				}
				return j + 1
			}
		}
		return len(line)
	}
	for j := i; j < len(line); j++ {
		switch c := line[j]; {
		case c == '#' && j > i && (line[j-1] == ' ' || line[j-1] == '\t'):
			return j
		case depth > 0 && (c == ',' || c == ']' || c == '}' || c == '[' || c == '{'):
			return j
		case asKey && c == ':':
			if _, ok := colonAfter(line, j, depth); ok {
				return j
			}
		}
	}
	return len(line)
}

// valueEnd returns where the value starting at i ends: a quoted or plain scalar, or a
// whole flow collection.
func valueEnd(line string, i, depth int) int {
	if i >= len(line) || line[i] == '#' {
		return i
	}
	if line[i] != '[' && line[i] != '{' {
		return scalarEnd(line, i, depth, false)
	}
	nest := 0
	for j := i; j < len(line); {
		switch line[j] {
		case '"', '\'':
			j = scalarEnd(line, j, 1, false)
			continue
		case '[', '{':
			nest++
		case ']', '}':
			nest--
			if nest == 0 {
				return j + 1
			}
		}
		j++
	}
	return len(line)
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func secretKey(key string, extra []string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	for _, e := range extra {
		if strings.EqualFold(key, e) {
			return true
		}
	}
	return false
}
