// Package e2e drives the built binaries end to end against real parts: net-snmp's
// snmpd on loopback addresses and the embedded store. It has tests only.
package e2e
