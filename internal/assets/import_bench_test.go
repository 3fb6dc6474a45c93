package assets_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// importCSV is n rows of a typical biomed inventory file (15 columns, ~140 bytes a row).
func importCSV(n int) string {
	var b strings.Builder
	b.WriteString("asset_tag,name,class,manufacturer,model,serial_number,site,building,unit,care_area,owner,support_group,pm_interval_days,last_pm,notes\n")
	classes := []string{"INFUSION_PUMP", "PATIENT_MONITOR", "VENTILATOR", "LAB_ANALYZER", "PRINTER"}
	areas := []string{"ICU", "WARD", "ED", "OR", "LAB"}
	for i := range n {
		c := classes[i%5]
		fmt.Fprintf(&b, "BME-%06d,%s-%d,%s,Maker%d,Model-%d,SN%08d,main,Tower %d,U%d,%s,Biomed,BME-Team-%d,180,2025-0%d-15,imported row %d\n",
			i, strings.ToLower(c), i, c, i%17, i%23, i, i%4, i%40, areas[i%5], i%3, 1+i%9, i)
	}
	return b.String()
}

// BenchmarkImportCSV imports MEDCMDB_BENCH_IMPORT_ROWS new rows (default 5,000) into an
// empty registry on the test store (the embedded FerretDB unless MEDCMDB_TEST_MONGO_URI
// says otherwise) and reports rows per second.
func BenchmarkImportCSV(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("MEDCMDB_BENCH_IMPORT_ROWS")); err == nil && v > 0 {
		n = v
	}
	text := importCSV(n)
	ctx := context.Background()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		st, err := assets.OpenStore(ctx, testkit.Store(b))
		if err != nil {
			b.Fatal(err)
		}
		svc, err := assets.NewService(ctx, st, assets.Options{Logger: testkit.Logger()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		res, err := svc.ImportCSV(ctx, strings.NewReader(text), "user:bench", "")
		total += time.Since(t0)
		if err != nil || res.Created != n {
			b.Fatalf("import: %v, %d created of %d", err, res.Created, n)
		}
		b.StopTimer()
		svc.Close()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rows/s")
}
