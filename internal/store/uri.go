package store

import "net/url"

// redactURI hides the password of a MongoDB URI for logs.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "<unparseable uri>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "<secret>")
		}
	}
	return u.String()
}

// RedactURI is redactURI for other packages' logs and dumps.
func RedactURI(uri string) string { return redactURI(uri) }
