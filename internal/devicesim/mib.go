package devicesim

import (
	"sort"

	"github.com/medcmdb/medcmdb/internal/snmpber"
)

// A view is the MIB one class of device implements: columns (scalars are one-row
// columns) sorted by OID. Values and table rows are computed from the device on each
// request, so a device costs no memory for its MIB.

// mctx is what value functions see: the device, the time of the request and a scratch
// buffer for building table indexes.
type mctx struct {
	d   *Device
	now int64
	buf []uint32
}

// table describes the rows of one or more columns: how many there are and the index
// of each. Rows must be in index order.
type table struct {
	rows  func(c *mctx) int
	index func(c *mctx, r int) []uint32
}

// column is one column of a table (or a scalar). value returns false when the row has
// no value now (a port whose device is gone, say); such rows are skipped.
type column struct {
	oid   []uint32
	tab   *table
	value func(c *mctx, r int) (Value, bool)
}

type view []column

var scalarTable = &table{
	rows:  func(*mctx) int { return 1 },
	index: func(c *mctx, _ int) []uint32 { return append(c.buf[:0], 0) },
}

func scalar(o string, f func(c *mctx) Value) column {
	return column{oid: oid(o), tab: scalarTable, value: func(c *mctx, _ int) (Value, bool) { return f(c), true }}
}

func col(tab *table, o string, f func(c *mctx, r int) (Value, bool)) column {
	return column{oid: oid(o), tab: tab, value: f}
}

func always(f func(c *mctx, r int) Value) func(c *mctx, r int) (Value, bool) {
	return func(c *mctx, r int) (Value, bool) { return f(c, r), true }
}

func newView(parts ...[]column) view {
	var v view
	for _, p := range parts {
		v = append(v, p...)
	}
	sort.Slice(v, func(i, j int) bool { return cmpOID(v[i].oid, v[j].oid) < 0 })
	for i := 1; i < len(v); i++ {
		if hasPrefix(v[i].oid, v[i-1].oid) {
			panic("devicesim: overlapping MIB columns")
		}
	}
	return v
}

func cmpOID(a, b []uint32) int {
	for i := range min(len(a), len(b)) {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func hasPrefix(o, prefix []uint32) bool {
	if len(o) < len(prefix) {
		return false
	}
	for i, s := range prefix {
		if o[i] != s {
			return false
		}
	}
	return true
}

// lookup finds the column o belongs to, or -1.
func (v view) lookup(o []uint32) int {
	i := sort.Search(len(v), func(i int) bool { return cmpOID(v[i].oid, o) > 0 || hasPrefix(o, v[i].oid) })
	if i < len(v) && hasPrefix(o, v[i].oid) {
		return i
	}
	return -1
}

// get returns the value of exactly o, or a noSuchObject/noSuchInstance exception.
func (v view) get(c *mctx, o []uint32) Value {
	i := v.lookup(o)
	if i < 0 {
		return Value{Type: snmpber.NoSuchObject}
	}
	cl := &v[i]
	suffix := o[len(cl.oid):]
	n := cl.tab.rows(c)
	r := sort.Search(n, func(r int) bool { return cmpOID(cl.tab.index(c, r), suffix) >= 0 })
	if r < n && cmpOID(cl.tab.index(c, r), suffix) == 0 {
		if val, ok := cl.value(c, r); ok {
			return val
		}
	}
	return Value{Type: snmpber.NoSuchInstance}
}

// next returns the first object after o, appending its OID to dst. ok is false at the
// end of the view.
func (v view) next(c *mctx, o []uint32, dst []uint32) ([]uint32, Value, bool) {
	i := sort.Search(len(v), func(i int) bool { return cmpOID(v[i].oid, o) > 0 || hasPrefix(o, v[i].oid) })
	for ; i < len(v); i++ {
		cl := &v[i]
		n := cl.tab.rows(c)
		r := 0
		if hasPrefix(o, cl.oid) {
			suffix := o[len(cl.oid):]
			r = sort.Search(n, func(r int) bool { return cmpOID(cl.tab.index(c, r), suffix) > 0 })
		}
		for ; r < n; r++ {
			if val, ok := cl.value(c, r); ok {
				dst = append(append(dst[:0], cl.oid...), cl.tab.index(c, r)...)
				return dst, val, true
			}
		}
	}
	return dst, Value{}, false
}
