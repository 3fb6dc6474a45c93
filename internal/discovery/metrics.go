package discovery

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/observation"
)

// collectorMetrics are the collector's own Prometheus metrics, registered on an
// injected registerer with every label value initialised up front.
type collectorMetrics struct {
	polls        *prometheus.CounterVec
	pollDuration prometheus.Histogram
	packets      *prometheus.CounterVec
	spool        prometheus.Gauge
	dropped      *prometheus.CounterVec
	tracked      *prometheus.GaugeVec
	reports      *prometheus.CounterVec
	sweeps       prometheus.Counter
	sweepSeconds prometheus.Gauge
	sweepFound   prometheus.Gauge
	late         prometheus.Counter
	lateness     prometheus.Histogram
	inventories  *prometheus.CounterVec
	traps        *prometheus.CounterVec
	trapsIgnored *prometheus.CounterVec
	emitted      *prometheus.CounterVec
	delivered    prometheus.Counter
	upstream     prometheus.Counter
	// The spool's own outages (disk full, I/O errors): delivery goes on from memory.
	spoolErrors   *prometheus.CounterVec
	spoolDegraded prometheus.Gauge
}

func newCollectorMetrics(reg prometheus.Registerer) *collectorMetrics {
	m := &collectorMetrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_snmp_polls_total", Help: "SNMP device polls by result.",
		}, []string{"result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "medcmdb_snmp_poll_duration_seconds",
			Help:    "Time to poll one device, all retries and credentials included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_snmp_packets_total", Help: "SNMP request packets sent, and retries.",
		}, []string{"kind"}),
		spool: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medcmdb_spool_observations", Help: "Observations waiting to be delivered to the cmdb.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_spool_dropped_total", Help: "Observations dropped because the spool was full, by kind.",
		}, []string{"kind"}),
		tracked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medcmdb_devices_tracked", Help: "Devices the collector is watching, by state.",
		}, []string{"state"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_reports_total", Help: "Observation batches sent to the cmdb, by result.",
		}, []string{"result"}),
		sweeps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medcmdb_snmp_sweeps_total", Help: "Completed discovery sweeps.",
		}),
		sweepSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medcmdb_snmp_last_sweep_duration_seconds", Help: "Wall time of the last sweep.",
		}),
		sweepFound: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medcmdb_snmp_last_sweep_responders", Help: "Agents that answered the last sweep.",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medcmdb_snmp_polls_late_total", Help: "Polls that started more than min(1s, poll_interval/10) after they were due.",
		}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "medcmdb_snmp_poll_lateness_seconds",
			Help:    "How long after its due time a poll started.",
			Buckets: []float64{.001, .01, .1, .5, 1, 2.5, 5, 10, 30},
		}),
		inventories: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_snmp_inventories_total", Help: "Inventory reads (ENTITY/IF/UPS-MIB, topology tables) by result.",
		}, []string{"result"}),
		traps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_snmp_traps_total", Help: "SNMP traps by outcome: received, decoded, rejected (bad credentials or garbage), dropped (queue full); received = decoded + rejected + dropped + medcmdb_snmp_traps_ignored_total.",
		}, []string{"result"}),
		trapsIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_snmp_traps_ignored_total",
			Help: "SNMP traps received and ignored, by reason: out_of_range (sender, or the device it speaks for, outside traps.accept_from), rate_limited (over traps.per_source_rate).",
		}, []string{"reason"}),
		// Emitted, delivered, dropped and spooled add up: emitted = delivered + dropped
		// + medcmdb_spool_observations, so a loss would show.
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_observations_emitted_total", Help: "Observations the collector produced, by kind.",
		}, []string{"kind"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medcmdb_observations_delivered_total", Help: "Observations in batches the cmdb acknowledged (applied, replayed or rejected as invalid).",
		}),
		upstream: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medcmdb_snmp_upstream_confirmations_total", Help: "Switches polled ahead of their turn because a device behind them stopped answering.",
		}),
	}
	for _, r := range []string{"success", "failure"} {
		m.polls.WithLabelValues(r)
		m.inventories.WithLabelValues(r)
	}
	for _, r := range []string{"received", "decoded", "rejected", "dropped"} {
		m.traps.WithLabelValues(r)
	}
	for _, r := range []string{ignoredOutOfRange, ignoredRateLimited} {
		m.trapsIgnored.WithLabelValues(r)
	}
	for _, k := range []string{"sent", "retry"} {
		m.packets.WithLabelValues(k)
	}
	for _, k := range []observation.Kind{observation.KindDiscovered, observation.KindChange, observation.KindRefresh, observation.KindEvent, "rejected"} {
		m.dropped.WithLabelValues(string(k))
	}
	for _, k := range []observation.Kind{observation.KindDiscovered, observation.KindChange, observation.KindRefresh, observation.KindEvent} {
		m.emitted.WithLabelValues(string(k))
	}
	for _, s := range []observation.State{observation.StateUp, observation.StateDown, observation.StateDegraded} {
		m.tracked.WithLabelValues(string(s))
	}
	for _, r := range []string{"success", "failure"} {
		m.reports.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.pollDuration, m.packets, m.spool, m.dropped, m.tracked,
			m.reports, m.sweeps, m.sweepSeconds, m.sweepFound, m.late, m.lateness, m.inventories, m.traps,
			m.trapsIgnored, m.emitted, m.delivered, m.upstream)
	}
	m.spoolErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medcmdb_spool_write_errors_total",
		Help: "Spool writes that failed, by reason (no_space, quota, read_only, io, full, other): appends kept in memory, or delivered batches not recorded on disk.",
	}, []string{"reason"})
	m.spoolDegraded = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "medcmdb_spool_degraded",
		Help: "1 while the spool cannot take new observations (disk full or failing): they wait in memory, up to the queue size, and are sent from there.",
	})
	for _, r := range spoolErrorReasons {
		m.spoolErrors.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.spoolErrors, m.spoolDegraded)
	}
	return m
}

func (m *collectorMetrics) pollDone(ok bool, d time.Duration) {
	if ok {
		m.polls.WithLabelValues("success").Inc()
	} else {
		m.polls.WithLabelValues("failure").Inc()
	}
	m.pollDuration.Observe(d.Seconds())
}

func (m *collectorMetrics) upstreamConfirm() { m.upstream.Inc() }

func (m *collectorMetrics) packetSent()    { m.packets.WithLabelValues("sent").Inc() }
func (m *collectorMetrics) packetRetried() { m.packets.WithLabelValues("retry").Inc() }
func (m *collectorMetrics) setSpool(n int) { m.spool.Set(float64(n)) }
func (m *collectorMetrics) spoolDropped(kind string) {
	m.dropped.WithLabelValues(kind).Inc()
}

func (m *collectorMetrics) setTracked(counts map[observation.State]int) {
	for s, n := range counts {
		m.tracked.WithLabelValues(string(s)).Set(float64(n))
	}
}

func (m *collectorMetrics) emit(kind observation.Kind) { m.emitted.WithLabelValues(string(kind)).Inc() }

func (m *collectorMetrics) deliveredN(n int) { m.delivered.Add(float64(n)) }

func (m *collectorMetrics) reportDone(ok bool) {
	if ok {
		m.reports.WithLabelValues("success").Inc()
	} else {
		m.reports.WithLabelValues("failure").Inc()
	}
}

func (m *collectorMetrics) sweepDone(r SweepResult) {
	m.sweeps.Inc()
	m.sweepSeconds.Set(r.Elapsed.Seconds())
	m.sweepFound.Set(float64(r.Responded))
}

func (m *collectorMetrics) pollStarted(lateness, threshold time.Duration) {
	if lateness < 0 {
		lateness = 0
	}
	m.lateness.Observe(lateness.Seconds())
	if lateness > threshold {
		m.late.Inc()
	}
}

func (m *collectorMetrics) inventoryDone(ok bool) {
	if ok {
		m.inventories.WithLabelValues("success").Inc()
	} else {
		m.inventories.WithLabelValues("failure").Inc()
	}
}

func (m *collectorMetrics) trap(result string) { m.traps.WithLabelValues(result).Inc() }

func (m *collectorMetrics) trapIgnored(reason string) { m.trapsIgnored.WithLabelValues(reason).Inc() }
