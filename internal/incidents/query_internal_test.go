package incidents

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The bounded heap behind a page keeps exactly the smallest keys, in order, for any
// page size and input order.
func TestKeyHeapKeepsTheSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n, want := r.IntN(300), r.IntN(60)
		var all []keyed
		for k := range n {
			i := &Incident{ID: fmt.Sprintf("i%03d", k), Priority: Priorities[r.IntN(5)], State: StateOpen,
				OpenedAt: time.Unix(int64(r.IntN(50)), 0)}
			if r.IntN(3) == 0 {
				i.State = StateResolved
			}
			all = append(all, keyed{PriorityKey(i), i})
		}
		h := &keyHeap{}
		for _, x := range all {
			h.offer(x, want)
		}
		slices.SortFunc(all, func(a, b keyed) int { return a.k.Compare(b.k) })
		exp := all[:min(want, len(all))]
		got := h.sorted()
		if !slices.EqualFunc(got, exp, func(a, b keyed) bool { return a.i == b.i }) {
			t.Fatalf("round %d: n %d want %d: heap kept %d, not the smallest in order", round, n, want, len(got))
		}
	}
}

// BenchmarkListByPriority measures one page of the API's default order over n
// incidents held in memory (a tenth of them open), against the newest-first order.
func BenchmarkListByPriority(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		e := &Engine{all: map[string]*Incident{}, open: map[string]string{}}
		t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		for k := range n {
			i := &Incident{ID: fmt.Sprintf("i%06d", k), AssetID: fmt.Sprintf("a%06d", k), Condition: "snmp.unreachable",
				Priority: Priorities[k%5], State: StateResolved, OpenedAt: t0.Add(time.Duration(k) * time.Second)}
			if k%10 == 0 {
				i.State = StateOpen
				e.open[i.Key()] = i.ID
			}
			e.all[i.ID] = i
			e.order = append(e.order, i.ID)
		}
		open := true
		for _, c := range []struct {
			name string
			f    Filter
		}{
			{"newest/all", Filter{}},
			{"priority/all", Filter{Order: OrderPriority}},
			{"priority/open", Filter{Order: OrderPriority, Open: &open}},
		} {
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				for b.Loop() {
					if page, _ := e.List(c.f, 0, 51); len(page) != 51 {
						b.Fatal(len(page))
					}
				}
			})
		}
	}
}
