package discovery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
	"github.com/medcmdb/medcmdb/internal/discovery/mllp"
	"github.com/medcmdb/medcmdb/internal/observation"
)

// Label values of medcmdb_hl7_messages_total: a fixed set, so a sender cannot grow
// the label space.
var (
	hl7TypeLabels = []string{hl7.TypeHeartbeat, hl7.TypePCD01, hl7.TypePCD04, "other", "invalid"}
	hl7AckLabels  = []string{hl7.AA, hl7.AE, hl7.AR, hl7.CA, hl7.CE, hl7.CR, "none"}
)

// hl7Metrics are the HL7 listener's metrics; counters are resolved once so the
// message path does no label lookups.
type hl7Metrics struct {
	messages [5][7]prometheus.Counter
	lost     prometheus.Counter
	tracked  *prometheus.GaugeVec
	vec      *prometheus.CounterVec
}

func newHL7Metrics(reg prometheus.Registerer) *hl7Metrics {
	m := &hl7Metrics{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_hl7_messages_total", Help: "HL7 messages received, by type and acknowledgement sent.",
		}, []string{"type", "ack"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medcmdb_hl7_heartbeats_lost_total", Help: "Times a device or sender went silent past its heartbeat timeout.",
		}),
		tracked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medcmdb_hl7_devices_tracked", Help: "Devices and sending applications tracked over HL7, by state.",
		}, []string{"state"}),
	}
	for i, t := range hl7TypeLabels {
		for j, a := range hl7AckLabels {
			m.messages[i][j] = m.vec.WithLabelValues(t, a)
		}
	}
	for _, s := range []observation.State{observation.StateUp, observation.StateDown, observation.StateDegraded} {
		m.tracked.WithLabelValues(string(s))
	}
	if reg != nil {
		reg.MustRegister(m.vec, m.lost, m.tracked)
	}
	return m
}

// hl7TypeIndex maps a message type to its label (unknown types are "other").
func hl7TypeIndex(typ string) int {
	switch typ {
	case hl7.TypeHeartbeat:
		return 0
	case hl7.TypePCD01:
		return 1
	case hl7.TypePCD04:
		return 2
	case "":
		return 4
	}
	return 3
}

func hl7AckIndex(code string) int {
	for i, a := range hl7AckLabels[:6] {
		if a == code {
			return i
		}
	}
	return 6
}

func (m *hl7Metrics) message(typ, ack string) {
	m.messages[hl7TypeIndex(typ)][hl7AckIndex(ack)].Inc()
}

func (m *hl7Metrics) heartbeatLost() { m.lost.Inc() }

func (m *hl7Metrics) setTracked(counts map[observation.State]int) {
	for s, n := range counts {
		m.tracked.WithLabelValues(string(s)).Set(float64(n))
	}
}

// mllpCollector exposes the MLLP server's own counters at scrape time: connections
// open, refused and closed by reason, memory held by frames still arriving, known
// senders. The label values are the server's fixed reasons, all present from the start.
type mllpCollector struct {
	srv                                    *mllp.Server
	open, refused, closed, partial, budget *prometheus.Desc
	known                                  *prometheus.Desc
}

var (
	mllpRefusedReasons = []string{mllp.RefusedPerPeer, mllp.RefusedMaxConns, mllp.RefusedReserved}
	mllpClosedReasons  = []string{mllp.ClosedIdle, mllp.ClosedFrameSlow, mllp.ClosedBudget, mllp.ClosedEvicted}
)

func newMLLPCollector(srv *mllp.Server) *mllpCollector {
	return &mllpCollector{
		srv:  srv,
		open: prometheus.NewDesc("medcmdb_hl7_connections", "Open MLLP connections.", nil, nil),
		refused: prometheus.NewDesc("medcmdb_hl7_connections_refused_total",
			"MLLP connections refused at accept, by reason (per_peer, max_connections, reserved_for_known).", []string{"reason"}, nil),
		closed: prometheus.NewDesc("medcmdb_hl7_connections_closed_total",
			"MLLP connections closed by the collector, by reason (idle, frame_timeout, partial_frame_budget, evicted).", []string{"reason"}, nil),
		partial: prometheus.NewDesc("medcmdb_hl7_partial_frame_bytes",
			"Memory held by MLLP frames still arriving, all connections together.", nil, nil),
		budget: prometheus.NewDesc("medcmdb_hl7_partial_frame_budget_bytes",
			"Bound of medcmdb_hl7_partial_frame_bytes (hl7.partial_frame_budget_bytes).", nil, nil),
		known: prometheus.NewDesc("medcmdb_hl7_known_senders",
			"Addresses that sent a valid HL7 message within hl7.known_sender_ttl (expired ones may linger).", nil, nil),
	}
}

func (c *mllpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.refused, c.closed, c.partial, c.budget, c.known} {
		ch <- d
	}
}

func (c *mllpCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(st.Open))
	for _, r := range mllpRefusedReasons {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused[r]), r)
	}
	for _, r := range mllpClosedReasons {
		ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(st.Closed[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(c.partial, prometheus.GaugeValue, float64(st.PartialBytes))
	ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(st.PartialBudget))
	ch <- prometheus.MustNewConstMetric(c.known, prometheus.GaugeValue, float64(st.KnownPeers))
}
