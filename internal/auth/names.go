package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// MaxNameLen bounds token, collector and site names (characters).
const MaxNameLen = 100

// ErrBadSpec marks a token request that cannot succeed as given (a bad name, a binding
// on a role that takes none); ErrDuplicateName one whose name an active token has.
var (
	ErrBadSpec       = errors.New("invalid token request")
	ErrDuplicateName = errors.New("an active token already has this name")
)

type specError string

func (e specError) Error() string        { return string(e) }
func (e specError) Is(target error) bool { return target == ErrBadSpec }

// CheckName refuses an empty name, one longer than MaxNameLen characters, one that is
// not UTF-8, and one with control characters (a newline forging a log or audit line)
// or invisible formatting characters (a right-to-left override making one name read
// as another). what names the field in the error.
func CheckName(what, name string) error {
	switch {
	case name == "":
		return specError(what + " is required")
	case !utf8.ValidString(name):
		return specError(what + " is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLen:
		return specError(fmt.Sprintf("%s is %d characters long: at most %d", what, utf8.RuneCountInString(name), MaxNameLen))
	}
	for i, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return specError(fmt.Sprintf("%s has a control or formatting character (%U) at byte %d: use printable characters", what, r, i))
		}
	}
	return nil
}

// abandonedClaim is how old a claim without its token must be to be taken over.
const abandonedClaim = time.Minute

// nameClaim reserves a name for one active token: its _id is the name, so the unique
// _id keeps two replicas from giving one name to two tokens at once.
type nameClaim struct {
	Name  string    `bson:"_id"`
	Token string    `bson:"token"`
	At    time.Time `bson:"at"`
}

// claimName reserves name for the token hash, or says which active token has it. A
// claim whose token was revoked (or never stored) is taken over; tokens from before
// claims are found by scanning, so that they count too.
func (s *Store) claimName(ctx context.Context, name, hash string) error {
	taken := func() error {
		return fmt.Errorf("token name %q: %w (revoke it first, or choose another name)", name, ErrDuplicateName)
	}
	toks, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.Name == name && !t.Revoked {
			return taken()
		}
	}
	_, err = s.names.InsertOne(ctx, nameClaim{Name: name, Token: hash, At: time.Now().UTC()})
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("reserving token name %q: %w", name, err)
	}
	var c nameClaim
	if err := s.names.FindOne(ctx, bson.M{"_id": name}).Decode(&c); err != nil {
		return fmt.Errorf("reading the claim on token name %q: %w", name, err)
	}
	var holder Token
	err = s.col.FindOne(ctx, bson.M{"_id": c.Token}).Decode(&holder)
	switch {
	case err == nil && !holder.Revoked:
		return taken()
	case errors.Is(err, mongo.ErrNoDocuments) && time.Since(c.At) < abandonedClaim:
		// Its token is being stored right now (claim first, token next).
		return taken()
	case err != nil && !errors.Is(err, mongo.ErrNoDocuments):
		return fmt.Errorf("reading the holder of token name %q: %w", name, err)
	}
	// The holder was revoked, or never stored (a crash between claim and token): take
	// the claim over, unless someone else just did.
	res, err := s.names.UpdateOne(ctx, bson.M{"_id": name, "token": c.Token}, bson.M{"$set": bson.M{"token": hash, "at": time.Now().UTC()}})
	if err != nil {
		return fmt.Errorf("reserving token name %q: %w", name, err)
	}
	if res.MatchedCount == 0 {
		return taken()
	}
	return nil
}

// releaseName frees name if the token hash holds it. A failure leaves a claim on a
// revoked token, which the next claim takes over.
func (s *Store) releaseName(ctx context.Context, name, hash string) {
	if _, err := s.names.DeleteOne(ctx, bson.M{"_id": name, "token": hash}); err != nil {
		s.log.Warn("releasing a token name", "name", name, "err", err)
	}
}

// Reissue revokes every active token named sp.Name, then issues a new one: for a
// program that owns its tokens' names, such as `cmdb demo` starting again on a kept
// data dir.
func (s *Store) Reissue(ctx context.Context, sp Spec) (string, *Token, error) {
	toks, err := s.List(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, t := range toks {
		if t.Name == sp.Name && !t.Revoked {
			if _, err := s.Revoke(ctx, ShortID(t.ID)); err != nil {
				return "", nil, err
			}
		}
	}
	return s.Issue(ctx, sp)
}
