package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/testkit"
)

// cluster is `cmdb store` (the embedded FerretDB alone) with cmdb replicas sharing it
// through --mongo-uri, as several cmdb processes share a MongoDB in production, and
// the test's own driver connection to read what they wrote.
type cluster struct {
	t       *testing.T
	uri     string
	db      *mongo.Database
	dataDir string
	policy  string
}

type replica struct {
	proc *testkit.Proc
	g    *testkit.GraphQL
	base string // http://host:port
}

func startCluster(t *testing.T, policy string) *cluster {
	t.Helper()
	dir := t.TempDir()
	st := testkit.Start(t, testkit.Binary(t, "cmdb"), "store", "--data-dir", filepath.Join(dir, "store"))
	uri := st.WaitFor(`msg="embedded store listening" uri=(\S+)`, 60*time.Second)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	c := &cluster{t: t, uri: uri, db: client.Database("cmdb"), dataDir: filepath.Join(dir, "cmdb"), policy: filepath.Join(dir, "policy.yaml")}
	writeFile(t, c.policy, policy)
	return c
}

// replica starts one more cmdb on the shared store. They share a data dir, which
// with --mongo-uri only holds the bootstrap admin token.
func (c *cluster) replica() *replica {
	c.t.Helper()
	p := testkit.Start(c.t, testkit.Binary(c.t, "cmdb"), "serve", "--listen", "127.0.0.1:0",
		"--mongo-uri", c.uri, "--data-dir", c.dataDir, "--config", c.policy)
	url := p.WaitFor(`msg="cmdb listening" url=(http://\S+)`, 60*time.Second)
	tok, err := os.ReadFile(filepath.Join(c.dataDir, "admin.token"))
	if err != nil {
		c.t.Fatalf("admin token: %v", err)
	}
	return &replica{proc: p, base: url, g: &testkit.GraphQL{URL: url + "/graphql", Token: strings.TrimSpace(string(tok))}}
}

// holds reports whether a lease holder id names this replica's process.
func (r *replica) holds(holder string) bool {
	return strings.Contains(holder, fmt.Sprintf("-%d-", r.proc.Pid()))
}

// metric reads one sample of the replica's /metrics, 0 when absent.
func (r *replica) metric(series string) (float64, error) {
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
}

type jobRun struct {
	ID     string    `bson:"_id"`
	Job    string    `bson:"job"`
	Tick   time.Time `bson:"tick"`
	Holder string    `bson:"holder"`
}

func (c *cluster) jobRuns() []jobRun {
	c.t.Helper()
	cur, err := c.db.Collection("job_runs").Find(context.Background(), bson.M{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []jobRun
	if err := cur.All(context.Background(), &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) leaseHolder() string {
	var d struct {
		Holder    string    `bson:"holder"`
		ExpiresAt time.Time `bson:"expiresAt"`
	}
	err := c.db.Collection("leases").FindOne(context.Background(), bson.M{"_id": "scheduler"}).Decode(&d)
	if err != nil || time.Now().After(d.ExpiresAt) {
		return ""
	}
	return d.Holder
}

// waitRun waits for the first run of job by a holder r names, ticked after since,
// and returns when it was seen.
func (c *cluster) waitRun(r *replica, job string, since time.Time, within time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		for _, run := range c.jobRuns() {
			if run.Job == job && r.holds(run.Holder) && !run.Tick.Before(since.Truncate(time.Second)) {
				return time.Since(since)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no %s run by %s within %s of %s", job, r.proc.Name, within, since.Format(time.TimeOnly))
	return 0
}

// TestTwoReplicasRunEachJobOncePerTick is issue 10's acceptance for scheduled jobs:
// two cmdb processes on one store run each job once per tick, on the lease holder;
// killed, the holder is replaced within one lease period; stopped cleanly, it hands
// the lease over at once.
func TestTwoReplicasRunEachJobOncePerTick(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const ttl = 6 * time.Second
	c := startCluster(t, fmt.Sprintf("sla_check_schedule: \"@every 1s\"\nlease_ttl: %s\nretention:\n  schedule: \"@every 1s\"\n", ttl))
	a := c.replica()
	b := c.replica()
	var leader, follower *replica
	testkit.Eventually(t, 20*time.Second, func() error {
		h := c.leaseHolder()
		switch {
		case a.holds(h):
			leader, follower = a, b
		case b.holds(h):
			leader, follower = b, a
		default:
			return fmt.Errorf("lease held by %q", h)
		}
		return nil
	})
	t.Logf("leader %s (pid %d)", leader.proc.Name, leader.proc.Pid())
	time.Sleep(6 * time.Second)

	// Both jobs tick every second, each tick claimed once, all by the leader.
	before, err := leader.metric(`medcmdb_job_runs_total{job="sla",result="success"}`)
	if err != nil {
		t.Fatal(err)
	}
	runs := c.jobRuns()
	after, _ := leader.metric(`medcmdb_job_runs_total{job="sla",result="success"}`)
	perJob := map[string]map[int64]bool{}
	for _, r := range runs {
		if !leader.holds(r.Holder) {
			t.Errorf("run %s by %s, not the leader", r.ID, r.Holder)
		}
		if perJob[r.Job] == nil {
			perJob[r.Job] = map[int64]bool{}
		}
		if perJob[r.Job][r.Tick.Unix()] {
			t.Errorf("tick %s of %s ran twice", r.Tick, r.Job)
		}
		perJob[r.Job][r.Tick.Unix()] = true
	}
	for _, job := range []string{"sla", "retention"} {
		ticks := perJob[job]
		if len(ticks) < 4 {
			t.Fatalf("%s ran %d times in about 6 s, want one a second", job, len(ticks))
		}
		lo, hi := int64(1<<62), int64(0)
		for s := range ticks {
			lo, hi = min(lo, s), max(hi, s)
		}
		span := hi - lo + 1
		t.Logf("%s: %d ticks run over %d s", job, len(ticks), span)
		// A tick is skipped when the previous run is still going; never doubled.
		if float64(len(ticks)) < 0.8*float64(span) {
			t.Errorf("%s: only %d of %d ticks ran", job, len(ticks), span)
		}
	}
	// Every run was claimed first: the leader's success count is the number of
	// records (one may be claimed and still running), and the follower ran none.
	if n := float64(len(perJob["sla"])); before > n || n > after+1 {
		t.Errorf("leader counted %v..%v sla runs for %v records", before, after, n)
	}
	if n, _ := follower.metric(`medcmdb_job_runs_total{job="sla",result="success"}`); n != 0 {
		t.Errorf("follower ran sla %v times", n)
	}
	if n, _ := follower.metric(`medcmdb_job_runs_total{job="sla",result="skipped"}`); n == 0 {
		t.Error("follower never skipped a tick: was its scheduler running?")
	}

	// SIGKILL: no release. The follower takes over when the lease expires (at most
	// ttl after the last renewal) at its next step (every ttl/3), and runs the next tick.
	killed := time.Now()
	leader.proc.Kill()
	took := c.waitRun(follower, "sla", killed, 3*ttl)
	t.Logf("after SIGKILL of the leader, the follower ran sla %s later (lease ttl %s)", took.Round(time.Millisecond), ttl)
	if limit := ttl + ttl/3 + 1500*time.Millisecond; took > limit {
		t.Errorf("takeover after a kill took %s, want within one lease period plus a renewal step (%s)", took, limit)
	}
	c.waitRun(follower, "retention", killed, 3*time.Second)

	// A third replica joins; SIGTERM on the leader releases the lease, so the new
	// replica takes over at its next step, well within one lease period.
	third := c.replica()
	time.Sleep(2 * time.Second)
	stopped := time.Now()
	if err := follower.proc.Stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	took = c.waitRun(third, "sla", stopped, 2*ttl)
	t.Logf("after SIGTERM of the leader, the new replica ran sla %s later", took.Round(time.Millisecond))
	if took >= ttl {
		t.Errorf("handover after a clean stop took %s: the lease was not released (ttl %s)", took, ttl)
	}
	if !strings.Contains(follower.proc.Output(), `msg="lease released"`) {
		t.Error("the stopped leader did not log the release of its lease")
	}
	seen := map[string]bool{}
	for _, r := range c.jobRuns() {
		if seen[r.Job+r.Tick.String()] {
			t.Errorf("tick %s of %s ran twice", r.Tick, r.Job)
		}
		seen[r.Job+r.Tick.String()] = true
	}
}

// storedAsset reads an asset as stored, through the asset store (whatever layout the
// shared store uses).
func (c *cluster) storedAsset(id string) (*assets.Asset, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URI: c.uri, Database: "cmdb", Logger: testkit.Logger()})
	if err != nil {
		return nil, err
	}
	defer st.Close(ctx)
	as, err := assets.OpenStore(ctx, st)
	if err != nil {
		return nil, err
	}
	return as.Load(ctx, id)
}
