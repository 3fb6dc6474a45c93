package incidents

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the incident engine's, the delivery worker's and the jobs' metrics.
type Metrics struct {
	attempts    *prometheus.CounterVec
	failures    *prometheus.CounterVec
	delivered   *prometheus.CounterVec
	queue       *prometheus.GaugeVec
	latency     *prometheus.HistogramVec
	breaches    *prometheus.CounterVec
	escalations *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_notification_attempts_total", Help: "Webhook delivery attempts, by webhook.",
		}, []string{"webhook"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_notification_failures_total", Help: "Failed webhook delivery attempts (retried), by webhook.",
		}, []string{"webhook"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_notifications_delivered_total", Help: "Notifications accepted by their webhook, by webhook.",
		}, []string{"webhook"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medcmdb_notification_queue", Help: "Notifications waiting in the outbox, by webhook.",
		}, []string{"webhook"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "medcmdb_notification_delivery_seconds", Help: "Time from writing a notification to its acceptance by the webhook.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"webhook"}),
		breaches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_sla_breaches_total", Help: "SLA targets missed, by target (acknowledge, restore) and priority.",
		}, []string{"target", "priority"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcmdb_incident_escalations_total", Help: "Escalation levels fired, by level name.",
		}, []string{"level"}),
	}
	for _, t := range []string{TriggerAcknowledge, TriggerRestore} {
		for _, p := range Priorities {
			m.breaches.WithLabelValues(t, string(p))
		}
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.failures, m.delivered, m.queue, m.latency, m.breaches, m.escalations)
	}
	return m
}

func (m *Metrics) initWebhook(name string) {
	m.attempts.WithLabelValues(name)
	m.failures.WithLabelValues(name)
	m.delivered.WithLabelValues(name)
	m.queue.WithLabelValues(name)
}
