package store

import (
	"net/url"
	"regexp"
	"strings"
)

var (
	userinfoPassword = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?]*:)[^@/?]*@`)
	passwordOption   = regexp.MustCompile(`(?i)([?&][^=&]*password=)[^&]*`)
)

// redactURI hides the passwords of a MongoDB URI for logs: the one in the userinfo and
// any *password= option (tlsCertificateKeyFilePassword). A URI url.Parse refuses, such
// as a Unix socket one (mongodb://%2Frun%2Fstore.sock/), is redacted as text.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || strings.Contains(u.Host, "%") {
		return passwordOption.ReplaceAllString(userinfoPassword.ReplaceAllString(uri, "${1}<secret>@"), "${1}<secret>")
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "<secret>")
		}
	}
	return passwordOption.ReplaceAllString(u.String(), "${1}<secret>")
}

// RedactURI is redactURI for other packages' logs and dumps.
func RedactURI(uri string) string { return redactURI(uri) }
