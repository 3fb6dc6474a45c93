package discovery

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medcmdb/medcmdb/internal/discovery/hl7/hl7test"
)

// TestHL7KeepsNoPatientData sends every kind of message, well-formed or not, full of
// synthetic patient data, and proves none of it reaches an observation, a log line
// (at debug level), a metric or an acknowledgement.
func TestHL7KeepsNoPatientData(t *testing.T) {
	cfg := hl7Config()
	cfg.HL7.MaxMessageBytes = 4096
	e := startHL7(t, cfg, nil)
	c := e.dial(t)
	pump := hl7test.Pump
	occl := "196940^MDC_EVT_FLUID_LINE_OCCL"
	patient := strings.Join(hl7test.Patient("ICU-3", "301", "B"), "\r")
	msgs := [][]byte{
		pump.PCD01("p1"),
		pump.PCD04("p2", occl, "start", "ST"),
		pump.PCD04("p3", "196648^MDC_EVT_HI", "start", "SP"),
		pump.PCD04("p4", occl, "tpoint", "ST"),
		pump.PCD04("p5", occl, "end", "ST"),
		pump.Heartbeat("p6"),
		pump.ADT("p7"),
		// Errors of every kind, each carrying patient data.
		hl7test.Lines(`MSH|^~\&|PUMP01|W|D|H|2024||ORU^R01|p8|P|2.6`, patient),             // AE: no OBX
		hl7test.Lines(`MSH|^~\&|PUMP01|W|D|H|2024||ADT^A01|p9|P|2.9`, patient),             // AR: version
		append(pump.Heartbeat("p10"), []byte("pid|"+hl7test.MRN+"|"+hl7test.Name+"\r")...), // AR: bad segment
		[]byte(patient), // AR: no MSH
		hl7test.Lines(`MSH|^~\&|PUMP01|W|D|H|2024||ORU^R01|p11|P|2.6`, `OBX|1||69985^X^MDC|1|||||||X|||||||`+hl7test.MRN+`^^`+hl7test.MRN+`^EUI-64`), // AE: bad EUI-64
		append(pump.PCD01("p12"), []byte(strings.Repeat(patient+"\r", 20))...),                                                                       // AR: too large
	}
	var acks []string
	for _, m := range msgs {
		b, err := c.Send(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, string(b))
	}
	e.l.Tracker().Check(e.l.now().Add(cfg.HL7.HeartbeatTimeout * 2)) // heartbeat loss path too
	obs, _ := json.Marshal(e.rec.take())
	if len(obs) < 100 {
		t.Fatalf("no observations to check: %s", obs)
	}
	rr := httptest.NewRecorder()
	promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rr.Body.String()
	if !strings.Contains(metrics, `medcmdb_hl7_messages_total{ack="CA",type="ORU^R01"} 1`) {
		t.Fatalf("metrics lack what this test means to check:\n%s", metrics)
	}
	logs := e.log.String()
	if !strings.Contains(logs, "hl7 message rejected") || !strings.Contains(logs, "control_id=p8") {
		t.Fatalf("the log lacks the lines this test means to check:\n%s", logs)
	}
	if testing.Verbose() {
		t.Log(logs)
	}
	for what, text := range map[string]string{"observations": string(obs), "logs": logs,
		"metrics": string(metrics), "acknowledgements": strings.Join(acks, "\n")} {
		for _, phi := range hl7test.PHI {
			if strings.Contains(text, phi) {
				t.Errorf("%s contain patient data %q:\n%s", what, phi, text)
			}
		}
	}
}
