// Package discovery is the collector: it owns the wire — SNMP sweeps and polls, trap
// reception, HL7 over MLLP, heartbeat timers — and reports what it sees as
// observations (package observation) to the cmdb, spooling them to disk while the
// cmdb is away. It never touches the database and never imports the asset or
// incident packages.
package discovery
