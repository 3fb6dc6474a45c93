// Command gqlhostile measures what hostile GraphQL requests cost a real `cmdb serve`:
// for each shape of internal/gqlhostile and each size, the wall time of the answer, the
// server's CPU time and the growth of its peak resident set, one request at a time.
// With -sigterm N it then floods the server with the shapes at N repetitions and
// measures how long SIGTERM takes to end it.
//
//	go run ./bench/gqlhostile                        # every shape at 1,000, 5,000 and the body limit
//	go run ./bench/gqlhostile -shapes enum-list -sizes 100,1000,4000
//	go run ./bench/gqlhostile -bin /path/to/old/cmdb # measure another build
//	go run ./bench/gqlhostile -shapes enum-list,variables -sizes 10 -sigterm 5000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/medcmdb/medcmdb/internal/gqlhostile"
)

func main() {
	bin := flag.String("bin", "", "cmdb binary (default: build ./cmd/cmdb)")
	shapes := flag.String("shapes", "", "comma-separated shape names (default: all)")
	sizes := flag.String("sizes", "1000,5000,fit", "comma-separated repetition counts; fit = as many as the body limit allows")
	limit := flag.Int("limit", 16<<20-1024, "body size for fit, bytes")
	timeout := flag.Duration("timeout", 60*time.Second, "give up on one request after this long (the server is then restarted)")
	sigterm := flag.Int("sigterm", 0, "if not 0: then flood the server with the shapes at this many repetitions, and measure how long SIGTERM takes to end it")
	flag.Parse()
	if err := run(*bin, *shapes, *sizes, *limit, *timeout, *sigterm); err != nil {
		fmt.Fprintln(os.Stderr, "gqlhostile:", err)
		os.Exit(1)
	}
}

func run(bin, shapeList, sizeList string, limit int, timeout time.Duration, sigterm int) error {
	work, err := os.MkdirTemp("", "medcmdb-gqlhostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin == "" {
		bin = filepath.Join(work, "cmdb")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/cmdb").CombinedOutput(); err != nil {
			return fmt.Errorf("building cmdb: %v\n%s", err, out)
		}
	}
	var todo []gqlhostile.Shape
	for _, s := range gqlhostile.Shapes() {
		if shapeList == "" || slices.Contains(strings.Split(shapeList, ","), s.Name) {
			todo = append(todo, s)
		}
	}
	srv, err := start(bin, work)
	if err != nil {
		return err
	}
	defer func() { srv.stop() }()
	fmt.Printf("%-24s %9s %10s  %s\n", "shape", "n", "body", "answer")
	for _, s := range todo {
		for _, size := range strings.Split(sizeList, ",") {
			n := gqlhostile.Fit(s, limit)
			if size != "fit" {
				if n, err = strconv.Atoi(size); err != nil {
					return fmt.Errorf("-sizes: %q is not a number", size)
				}
			}
			if s.Name == "fragment-fanout" {
				n = min(n, 40) // 2^n expansions: 40 is plenty
			}
			body := s.Body(n)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			r, err := gqlhostile.Probe(ctx, srv.url, srv.token, body, srv.pid())
			cancel()
			fmt.Printf("%-24s %9d %9dB  ", s.Name, n, len(body))
			if err != nil {
				fmt.Printf("FAILED after %v: %v\n", r.Wall.Round(time.Millisecond), err)
				// The server may still be working on it: measure the next shape on a
				// fresh one.
				srv.stop()
				if srv, err = start(bin, work); err != nil {
					return err
				}
				continue
			}
			fmt.Printf("%s  %.80q\n", r, r.Message)
		}
	}
	if sigterm > 0 {
		return flood(srv, todo, sigterm)
	}
	return nil
}

// flood sends the shapes, n repetitions each, from 4 clients for 3 s, then SIGTERM,
// and reports how long the process took to end and its exit status.
func flood(srv *server, shapes []gqlhostile.Shape, n int) error {
	var bodies [][]byte
	for _, s := range shapes {
		bodies = append(bodies, s.Body(n))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var sent atomic.Int64
	for c := range 4 {
		wg.Go(func() {
			for i := c; ctx.Err() == nil; i++ {
				sent.Add(1)
				_, _ = gqlhostile.Probe(ctx, srv.url, srv.token, bodies[i%len(bodies)], srv.pid())
			}
		})
	}
	time.Sleep(3 * time.Second)
	fmt.Printf("flood: %d requests sent in 3 s, cmdb at %d MiB, %v of CPU\n", sent.Load(), gqlhostile.RSS(srv.pid())>>20, gqlhostile.CPUTime(srv.pid()).Round(time.Millisecond))
	start := time.Now()
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
		fmt.Printf("SIGTERM during a flood: ended in %v, %v\n", time.Since(start).Round(time.Millisecond), exitStatus(srv.err))
	case <-time.After(60 * time.Second):
		_ = srv.cmd.Process.Kill()
		<-srv.done
		fmt.Printf("SIGTERM during a flood: still running after 60 s, killed\n")
	}
	cancel()
	wg.Wait()
	return nil
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "exit status " + strconv.Itoa(ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

type server struct {
	cmd        *exec.Cmd
	url, token string
	log        string
	done       chan struct{}
	err        error
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func start(bin, work string) (*server, error) {
	data, err := os.MkdirTemp(work, "data-")
	if err != nil {
		return nil, err
	}
	s := &server{log: filepath.Join(data, "cmdb.log"), done: make(chan struct{})}
	f, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { s.err = s.cmd.Wait(); f.Close(); close(s.done) }()
	rx := regexp.MustCompile(`msg="cmdb listening" url=(http://\S+)`)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(s.log)
		if m := rx.FindSubmatch(b); m != nil {
			s.url = string(m[1]) + "/graphql"
			tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
			if err != nil {
				return nil, err
			}
			s.token = strings.TrimSpace(string(tok))
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("cmdb exited (%v):\n%s", s.err, b)
		default:
		}
	}
	s.stop()
	return nil, errors.New("cmdb did not start within 2 minutes")
}

func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}
