package store_test

import (
	"context"
	"testing"

	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// A cmdb (or cmdb replay) pointed with --mongo-uri at FerretDB, e.g. `cmdb store`,
// must read what the embedded cmdb wrote: it gets the embedded layout.
func TestFerretDBBehindAURIIsRecognised(t *testing.T) {
	shared := testkit.Store(t)
	if !shared.Embedded {
		t.Skip("MEDCMDB_TEST_MONGO_URI points at a real MongoDB")
	}
	st, err := store.Open(context.Background(), store.Options{URI: shared.URI, Database: shared.DB.Name(), Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	if !st.FerretDB || st.Embedded {
		t.Errorf("FerretDB behind --mongo-uri: FerretDB=%v Embedded=%v, want FerretDB and not embedded (other writers may share it)", st.FerretDB, st.Embedded)
	}
}
