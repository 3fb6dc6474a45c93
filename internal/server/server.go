// Package server wires the cmdb process: store, asset registry, incident engine, API,
// metrics and HTTP endpoints. cmd/cmdb owns flags and signals; this package owns Run.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medcmdb/medcmdb/graphql"
	"github.com/medcmdb/medcmdb/internal/assets"
	"github.com/medcmdb/medcmdb/internal/audit"
	"github.com/medcmdb/medcmdb/internal/auth"
	"github.com/medcmdb/medcmdb/internal/fleet"
	"github.com/medcmdb/medcmdb/internal/incidents"
	"github.com/medcmdb/medcmdb/internal/lease"
	"github.com/medcmdb/medcmdb/internal/schedule"
	"github.com/medcmdb/medcmdb/internal/store"
	"github.com/medcmdb/medcmdb/internal/web"
)

// Version is set at build time (-ldflags "-X .../server.Version=...").
var Version = "dev"

// Config is what the cmdb needs to start.
type Config struct {
	Listen   string
	MongoURI string
	DataDir  string
	Database string
	Policy   *incidents.Policy
	Logger   *slog.Logger
	// ExpiryInterval is how often expired observations are checked (default 5s).
	ExpiryInterval time.Duration
	// TLSCert and TLSKey, when set, serve HTTPS only.
	TLSCert, TLSKey string
	// FeedInterval is how often a replica on a shared (non-embedded) store polls it
	// for other replicas' writes (default 2s; negative: never).
	FeedInterval time.Duration
	// Limits bound each GraphQL request and each token's request rate (zero:
	// graphql.DefaultLimits).
	Limits graphql.Limits
}

// Server is a running cmdb.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     *store.Store
	tokens    *auth.Store
	assets    *assets.Service
	incidents *incidents.Engine
	notifier  *incidents.Notifier
	maint     *incidents.Maintenance
	audit     *audit.Log
	replica   string
	lease     *lease.Lease
	jobs      *schedule.Scheduler
	fleet     *fleet.Tracker
	pipeline  *pipeline
	registry  *prometheus.Registry
	listener  net.Listener
	http      *http.Server
	// stopRequests cancels the context of every request in flight (shutdown).
	stopRequests context.CancelFunc
	tls          bool   // serving HTTPS (http.Server sets TLSConfig itself for HTTP/2)
	beyond       beyond // problems, advisories, rogue devices, observation log (beyond.go)

	adminTokenPath string

	feedPolls, feedChanges *prometheus.CounterVec
}

// New opens the store, loads the working set and binds the listener, so Addr is valid
// when New returns.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Policy == nil {
		cfg.Policy = incidents.DefaultPolicy()
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = 5 * time.Second
	}
	log := cfg.Logger
	st, err := store.Open(ctx, store.Options{URI: cfg.MongoURI, DataDir: cfg.DataDir, Database: cfg.Database, Logger: log})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, registry: prometheus.NewRegistry()}
	if err := s.init(ctx); err != nil {
		st.Close(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Server) init(ctx context.Context) error {
	log := s.log
	s.tokens = auth.NewStore(s.store.DB).WithLogger(log)
	path, created, err := auth.Bootstrap(ctx, s.tokens, s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("bootstrapping admin token: %w", err)
	}
	s.adminTokenPath = path
	if created {
		log.Info("created the first admin token", "file", path)
	}
	ast, err := assets.OpenStore(ctx, s.store)
	if err != nil {
		return err
	}
	if s.assets, err = assets.NewService(ctx, ast, assets.Options{Logger: log, Conditions: s.cfg.Policy.Conditions()}); err != nil {
		return err
	}
	s.audit = audit.New(s.store.DB, log)
	if err := s.initBeyond(ctx); err != nil {
		return err
	}
	if err := s.initIncidents(ctx); err != nil {
		return err
	}
	if err := s.startBeyond(ctx); err != nil {
		return err
	}
	s.assets.SetIncidentCounter(incidentHistory{s.incidents})
	s.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newInventoryCollector(s.assets, s.incidents),
		newBiomedCollector(s.assets, s.incidents),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "medcmdb_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": Version, "component": "cmdb"},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "medcmdb_store_up", Help: "1 when the store answered a ping within 2 s at scrape time.",
		}, s.storeUp),
	)
	s.pipeline = newPipeline(s.assets, s.incidents, s.registry, log)
	s.initFleet()
	s.pipeline.observe = s.observe
	limits := s.cfg.Limits
	if limits == (graphql.Limits{}) {
		limits = graphql.DefaultLimits()
	}
	gh, err := graphql.NewHandler(graphql.Deps{Assets: s.assets, Incidents: s.incidents, Reporter: s.pipeline,
		Tokens: s.tokens, Audit: s.audit,
		Problems: s.beyond.problems, Advisories: s.beyond.advisories, Rogue: s.beyond.rogue},
		s.tokens, s.registry, log, limits)
	if err != nil {
		return fmt.Errorf("graphql schema: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", gh)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.ready)
	board := web.Handler()
	mux.Handle("GET /{$}", board)
	mux.Handle("GET /static/", board)
	requests, stop := context.WithCancel(context.Background())
	s.stopRequests = stop
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return requests }}
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS certificate %s / key %s: %w", s.cfg.TLSCert, s.cfg.TLSKey, err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.listener, err = net.Listen("tcp", s.cfg.Listen); err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	if s.http.TLSConfig != nil {
		s.tls = true
		s.listener = tls.NewListener(s.listener, s.http.TLSConfig)
	}
	return nil
}

// Addr is the bound HTTP address.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL is the base URL of the HTTP server.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// AdminTokenPath is where the bootstrap admin token was written, if it was.
func (s *Server) AdminTokenPath() string { return s.adminTokenPath }

// Tokens returns the token store (for token commands and the demo).
func (s *Server) Tokens() *auth.Store { return s.tokens }

// Assets returns the asset registry.
func (s *Server) Assets() *assets.Service { return s.assets }

// Incidents returns the incident engine.
func (s *Server) Incidents() *incidents.Engine { return s.incidents }

// Registry returns the metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

func (s *Server) storeUp() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.store.Ping(ctx) != nil {
		return 0
	}
	return 1
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store not answering: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Run serves until ctx ends, then shuts down gracefully and closes the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close(context.Background())
	defer s.assets.Close() // before the store closes under its background work
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() {
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel()
		}
	})
	s.runIncidents(ctx, &wg)
	s.runReplicas(ctx, &wg)
	s.runBeyond(ctx, &wg)
	wg.Go(func() { s.expireLoop(ctx) })
	s.log.Info("cmdb listening", "url", s.URL(), "embedded_store", s.store.Embedded, "version", Version)
	<-ctx.Done()
	s.shutdownHTTP()
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// shutdownGrace is how long requests in flight may run on after SIGTERM before their
// contexts are cancelled; with what follows (handlers return at their next check, the
// store closes), the process ends within Docker's default 10 s stop timeout.
const shutdownGrace = 5 * time.Second

// shutdownHTTP stops accepting connections and waits for the requests in flight, up
// to shutdownGrace; then cancels them and waits a little more for their handlers.
func (s *Server) shutdownHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if s.http.Shutdown(ctx) == nil {
		s.stopRequests()
		return
	}
	s.stopRequests()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("requests still running at shutdown, cancelled: closing anyway")
	}
}

// expireLoop turns devices whose observations ran out into UNKNOWN.
func (s *Server) expireLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			outs, err := s.assets.Expire(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("expiring observations", "err", err)
				}
				continue
			}
			if len(outs) > 0 {
				// A device seen through several channels (SNMP and HL7, or two
				// collectors) can lose one and keep its status: say how many changed.
				changed := 0
				for _, o := range outs {
					if o.Asset.Status != o.StatusBefore {
						changed++
					}
				}
				s.log.Info("observations expired", "assets", len(outs), "status_changed", changed)
				if err := s.incidents.Handle(ctx, outs); err != nil {
					s.log.Warn("updating incidents after expiry", "err", err)
				}
			}
		}
	}
}
