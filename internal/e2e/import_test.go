package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestImportExportCommands drives cmdb import and cmdb export against a running cmdb:
// the bad row is reported with its line and a failing exit status, the good rows are
// in, and the export carries them back out.
func TestImportExportCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dataDir := t.TempDir()
	_, g := startCMDB(t, dataDir)
	bin := testkit.Binary(t, "cmdb")
	csv := filepath.Join(t.TempDir(), "assets.csv")
	content := "asset_tag,manufacturer,model,serial_number,class,care_area,pm_interval_days,last_pm\n" +
		"BME-1,Draeger,V800,S1,VENTILATOR,ICU,180,2020-01-01\n" +
		"BME-2,Draeger,V800,S2,HAIRDRYER,ICU,,\n" +
		"BME-3,Baxter,Sigma,S3,INFUSION_PUMP,WARD,,\n"
	if err := os.WriteFile(csv, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := testkit.Run(ctx, bin, "import", "--csv", csv, "--url", g.URL, "--data-dir", dataDir)
	if err == nil || !strings.Contains(out, "assets.csv:3:") || !strings.Contains(out, "HAIRDRYER") ||
		!strings.Contains(out, "2 created, 0 updated, 0 unchanged, 1 rows not imported") {
		t.Fatalf("import: err=%v\n%s", err, out)
	}
	var res struct {
		Assets struct {
			TotalCount int
			Nodes      []struct {
				AssetTag  string
				PmOverdue bool
			}
		}
	}
	g.Query(t, `{ assets(filter: {pmOverdue: true}) { totalCount nodes { assetTag pmOverdue } } }`, nil, &res)
	if res.Assets.TotalCount != 1 || res.Assets.Nodes[0].AssetTag != "BME-1" {
		t.Fatalf("after import: %+v", res)
	}
	out, err = testkit.Run(ctx, bin, "export", "--csv", "--care-area", "ICU", "--url", g.URL, "--token", g.Token)
	if err != nil || !strings.HasPrefix(out, "id,asset_tag,") || !strings.Contains(out, "BME-1") || strings.Contains(out, "BME-3") {
		t.Fatalf("export: err=%v\n%s", err, out)
	}
}
