package discovery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7"
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
	for _, s := range []State{StateUp, StateDown, StateDegraded} {
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

func (m *hl7Metrics) setTracked(counts map[State]int) {
	for s, n := range counts {
		m.tracked.WithLabelValues(string(s)).Set(float64(n))
	}
}
