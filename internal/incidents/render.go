package incidents

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"strings"
)

// Sign returns the X-Medcmdb-Signature value: HMAC-SHA256 under secret of
// "<timestamp>.<body>", hex, prefixed "sha256=". Signing the timestamp lets a
// receiver refuse replays older than it tolerates.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a signature made by Sign in constant time.
func VerifySignature(secret, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// Render returns the request body of an outbox entry in the webhook's shape.
func Render(w *Webhook, e *OutboxEntry) ([]byte, error) {
	var v any
	n := &e.Notification
	switch w.Kind {
	case KindGeneric:
		v = map[string]any{"idempotencyKey": e.ID, "source": "medcmdb", "notification": n}
	case KindServiceNow:
		v = serviceNow(w, e)
	case KindJira:
		v = jira(w, e)
	case KindFreshservice:
		v = freshservice(w, e)
	default:
		return nil, fmt.Errorf("webhook %s: unknown kind %q", w.Name, w.Kind)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rendering %s for webhook %s: %w", e.ID, w.Name, err)
	}
	return b, nil
}

// summary is the one-line subject every shape uses.
func summary(n *Notification) string {
	s := fmt.Sprintf("[%s] %s", n.Incident.Priority, n.Incident.Title)
	switch n.Event {
	case NotifyResolved:
		s = "RESOLVED " + s
	case NotifyEscalated:
		s = "ESCALATED " + s
	}
	return s
}

// details is the plain-text body: what failed, where, why this priority, what it
// took down. Device identity and location only, never patient data.
func details(n *Notification) []string {
	i, a := &n.Incident, &n.Asset
	lines := []string{
		fmt.Sprintf("%s %s: %s", i.Number, n.Event, i.Title),
		fmt.Sprintf("Condition: %s", i.Condition),
		fmt.Sprintf("Priority %s (impact %d, urgency %d): %s", i.Priority, i.Impact, i.Urgency, i.PriorityReason),
		fmt.Sprintf("Device: %s %s %s, class %s, serial %s, address %s", a.Name, a.Manufacturer, a.Model, a.Class,
			orNone(a.SerialNumber), orNone(strings.Join(a.IPAddresses, ", "))),
		fmt.Sprintf("Location: site %s, building %s, floor %s, unit %s, care area %s, room %s",
			orNone(a.Site), orNone(a.Location.Building), orNone(a.Location.Floor), orNone(a.Location.Unit),
			orNone(a.Location.CareArea), orNone(a.Location.Room)),
		fmt.Sprintf("Opened %s; acknowledge by %s; restore by %s", i.OpenedAt.UTC().Format("2006-01-02 15:04:05Z"),
			i.AckDueAt.UTC().Format("15:04:05Z"), i.ResolveDueAt.UTC().Format("2006-01-02 15:04:05Z")),
	}
	if i.Dependents > 0 || i.SuppressedCount > 0 || i.ImpactedCount > 0 {
		// Devices and incidents apart: one device may have two incidents under a root
		// (SNMP unreachable and HL7 heartbeat lost).
		lines = append(lines, fmt.Sprintf("Root cause: %s depend on it; suppressed under it now: %s; taken down in all: %s; worst impact %s",
			plural(i.Dependents, "device"), devicesAndIncidents(i.SuppressedDeviceCount, i.SuppressedCount),
			devicesAndIncidents(i.ImpactedDeviceCount, i.ImpactedCount), orNone(i.WorstImpact)))
	}
	if i.WasSuppressed {
		lines = append(lines, "This device was held back as a consequence of an upstream failure that has since recovered.")
	}
	if i.Flapping {
		lines = append(lines, "The condition is flapping: one incident stands for the whole episode.")
	}
	if i.Escalation != "" {
		lines = append(lines, "Escalated to: "+i.Escalation)
	}
	for _, k := range n.Knowledge {
		lines = append(lines, knowledgeLine(k))
	}
	if n.Note != "" {
		lines = append(lines, n.Note)
	}
	return lines
}

// serviceNow is a Table API incident record (POST /api/now/table/incident, or an
// import set whose transform coalesces on correlation_id). Impact and urgency are
// 1 high .. 3 low there.
func serviceNow(w *Webhook, e *OutboxEntry) map[string]any {
	n := &e.Notification
	i := &n.Incident
	cat := w.ServiceNow.Category
	if cat == "" {
		cat = "hardware"
	}
	rec := map[string]any{
		"short_description":   summary(n),
		"description":         strings.Join(details(n), "\n"),
		"impact":              fmt.Sprint(4 - i.Impact),
		"urgency":             fmt.Sprint(4 - i.Urgency),
		"category":            cat,
		"cmdb_ci":             n.Asset.Name,
		"correlation_id":      i.ID,
		"correlation_display": "medcmdb " + i.Number,
		"work_notes":          fmt.Sprintf("medcmdb %s #%d (%s)", n.Event, n.Seq, e.ID),
	}
	switch n.Event {
	case NotifyOpened:
		rec["state"] = "1" // New
	case NotifyEscalated:
		rec["state"] = "2" // In Progress
	case NotifyResolved:
		rec["state"] = "6" // Resolved
		rec["close_code"] = "Solved (Permanently)"
		rec["close_notes"] = "Resolved by medcmdb: the device reports healthy again."
	}
	if w.ServiceNow.AssignmentGroup != "" {
		rec["assignment_group"] = w.ServiceNow.AssignmentGroup
	}
	if w.ServiceNow.CallerID != "" {
		rec["caller_id"] = w.ServiceNow.CallerID
	}
	return rec
}

var jiraPriority = map[Priority]string{P1: "Highest", P2: "High", P3: "Medium", P4: "Low", P5: "Lowest"}

// jira is a Jira Service Management customer request (POST
// /rest/servicedeskapi/request), with a "medcmdb" block that an automation rule uses
// to route later events of the same incident to the request it created.
func jira(w *Webhook, e *OutboxEntry) map[string]any {
	n := &e.Notification
	return map[string]any{
		"serviceDeskId": w.Jira.ServiceDeskID,
		"requestTypeId": w.Jira.RequestTypeID,
		"requestFieldValues": map[string]any{
			"summary":     summary(n),
			"description": strings.Join(details(n), "\n\n"),
			"priority":    map[string]string{"name": jiraPriority[n.Incident.Priority]},
			"labels":      []string{"medcmdb", "medcmdb-" + n.Event, strings.ToLower(string(n.Incident.Priority))},
		},
		"medcmdb": map[string]any{"incidentId": n.Incident.ID, "number": n.Incident.Number, "event": n.Event,
			"sequence": n.Seq, "idempotencyKey": e.ID},
	}
}

// freshservice is a Freshservice ticket (POST /api/v2/tickets): priority 1 low ..
// 4 urgent, status 2 open .. 4 resolved, impact and urgency 1 low .. 3 high.
func freshservice(w *Webhook, e *OutboxEntry) map[string]any {
	n := &e.Notification
	i := &n.Incident
	prio := map[Priority]int{P1: 4, P2: 3, P3: 2, P4: 1, P5: 1}[i.Priority]
	status := 2
	if n.Event == NotifyResolved {
		status = 4
	}
	var b strings.Builder
	for _, l := range details(n) {
		b.WriteString("<p>" + html.EscapeString(l) + "</p>")
	}
	t := map[string]any{
		"subject":     summary(n),
		"description": b.String(),
		"email":       w.Freshservice.RequesterEmail,
		"priority":    prio,
		"status":      status,
		"source":      2,
		"impact":      i.Impact,
		"urgency":     i.Urgency,
		"category":    "Hardware",
		"tags":        []string{"medcmdb", "medcmdb:" + i.ID, "event:" + n.Event},
	}
	if w.Freshservice.GroupID != 0 {
		t["group_id"] = w.Freshservice.GroupID
	}
	return t
}

// plural writes "1 device", "33 devices".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// devicesAndIncidents writes "33 devices (56 incidents)"; a notification queued before
// devices were counted says incidents only.
func devicesAndIncidents(devices, incidents int) string {
	if devices == 0 && incidents > 0 {
		return plural(incidents, "incident")
	}
	return plural(devices, "device") + " (" + plural(incidents, "incident") + ")"
}
