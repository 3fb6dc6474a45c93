package store

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// Unavailable reports whether err means the store could not be reached (no server
// to select, a broken connection, a timeout) rather than that it refused the
// operation. Such a failure is temporary: the API answers 503 and a collector keeps
// the observations in its spool and sends them again.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var sel topology.ServerSelectionError
	if errors.As(err, &sel) || mongo.IsNetworkError(err) || errors.Is(err, topology.ErrTopologyClosed) {
		return true
	}
	// The caller's own deadline is the caller's business, not the store's.
	return mongo.IsTimeout(err) && !errors.Is(err, context.DeadlineExceeded)
}
