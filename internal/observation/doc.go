// Package observation is the wire contract between collectors and the cmdb: what a
// collector saw about one device at one moment (Observation, with its Source, State,
// Kind, Identity, Location and Neighbors), how it is validated, the identifiers it
// carries (ids.go), the conditions it can name (conditions.go) and the cmdb's answer
// (ReportResult). Both sides import it; it imports neither, so the cmdb never depends
// on the collector's SNMP or HL7 code, and the collector never on the store.
package observation
