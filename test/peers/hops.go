package peers

import (
	"net/netip"
	"sort"
	"time"
)

// HopPair is one call seen on two hops: Front between the client and a
// proxy, Back between the proxy and the server.
type HopPair struct {
	Front, Back Call
}

// OnServerPort returns the calls whose server end has port.
func OnServerPort(calls []Call, port int) []Call {
	var out []Call
	for _, c := range calls {
		if ap, err := netip.ParseAddrPort(c.Server); err == nil && int(ap.Port()) == port {
			out = append(out, c)
		}
	}
	return out
}

// PairHops matches each front-hop call with the back-hop call the proxy
// made for it: the earliest unmatched back call with the same method that
// began no earlier than the front call and, when the front call's
// duration is known, no later than its end. Calls need known starts and
// methods to pair; the rest stay unmatched. It is meant for traffic where
// calls with the same method do not overlap in time, as in the tests.
func PairHops(front, back []Call) (pairs []HopPair, lonelyFront, lonelyBack []Call) {
	byStart := func(cs []Call) []Call {
		cs = append([]Call(nil), cs...)
		sort.SliceStable(cs, func(i, j int) bool {
			a, b := cs[i].Start, cs[j].Start
			if a == nil || b == nil {
				return a != nil
			}
			return a.Before(*b)
		})
		return cs
	}
	front, back = byStart(front), byStart(back)
	used := make([]bool, len(back))
	for _, f := range front {
		found := -1
		for i, b := range back {
			if used[i] || f.Start == nil || b.Start == nil || f.Method == nil || b.Method == nil || *f.Method != *b.Method {
				continue
			}
			if b.Start.Before(*f.Start) {
				continue
			}
			if f.Duration != nil && b.Start.After(f.Start.Add(*f.Duration)) {
				continue
			}
			found = i
			break
		}
		if found < 0 {
			lonelyFront = append(lonelyFront, f)
			continue
		}
		used[found] = true
		pairs = append(pairs, HopPair{f, back[found]})
	}
	for i, b := range back {
		if !used[i] {
			lonelyBack = append(lonelyBack, b)
		}
	}
	return pairs, lonelyFront, lonelyBack
}

// DurationString shows a duration, or "?" when unknown.
func DurationString(d *time.Duration) string {
	if d == nil {
		return "?"
	}
	return d.Round(time.Microsecond).String()
}
