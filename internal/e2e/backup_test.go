package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestEmbeddedStoreOnlineBackup proves the backup procedure of docs/operations.md for
// the embedded store: SQLite's online backup of the database file while the cmdb
// runs gives a consistent copy, and a cmdb started on a data dir restored from it
// has exactly what was there at backup time.
func TestEmbeddedStoreOnlineBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sqlite := testkit.RequireTool(t, "sqlite3")
	bin := testkit.Binary(t, "cmdb")
	dataDir := t.TempDir()
	cmdb, g := startCMDB(t, dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	importRows := func(rows string) {
		t.Helper()
		csv := filepath.Join(t.TempDir(), "assets.csv")
		writeFile(t, csv, "asset_tag,manufacturer,model,serial_number,class,care_area\n"+rows)
		if out, err := testkit.Run(ctx, bin, "import", "--csv", csv, "--url", g.URL, "--data-dir", dataDir); err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
	}
	importRows("BME-1,Draeger,V800,S1,VENTILATOR,ICU\nBME-2,Baxter,Sigma,S2,INFUSION_PUMP,WARD\n")

	// The online backup, while the cmdb runs and writes.
	files, _ := filepath.Glob(filepath.Join(dataDir, "db", "*.sqlite"))
	if len(files) == 0 {
		t.Fatalf("no SQLite file under %s/db", dataDir)
	}
	backup := t.TempDir()
	for _, f := range files {
		out, err := testkit.Run(ctx, sqlite, f, ".backup '"+filepath.Join(backup, filepath.Base(f))+"'")
		if err != nil {
			t.Fatalf("sqlite3 .backup %s: %v\n%s", f, err, out)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	importRows("BME-3,Philips,MX800,S3,PATIENT_MONITOR,ICU\n") // after the backup
	if err := cmdb.Stop(); err != nil {
		t.Fatal(err)
	}

	// Restore into a new data dir: the database files and the admin token file.
	restored := t.TempDir()
	if err := os.MkdirAll(filepath.Join(restored, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(backup, filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(restored, "db", filepath.Base(f)), string(b))
	}
	writeFile(t, filepath.Join(restored, "admin.token"), string(tok))
	_, g2 := startCMDB(t, restored)
	var res struct {
		Assets struct {
			Nodes []struct{ AssetTag string }
		}
	}
	g2.Query(t, `{ assets { nodes { assetTag } } }`, nil, &res)
	var tags []string
	for _, n := range res.Assets.Nodes {
		tags = append(tags, n.AssetTag)
	}
	slices.Sort(tags)
	if strings.Join(tags, ",") != "BME-1,BME-2" {
		t.Fatalf("restored assets %v, want exactly those of backup time [BME-1 BME-2]", tags)
	}
}
