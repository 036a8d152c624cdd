package hpack

// entryOverhead is the per-entry overhead of RFC 7541 section 4.1, and so
// the smallest size any dynamic table entry can have.
const entryOverhead = 32

// entry is one dynamic table entry as far as the observer knows it. The
// name is unknown when the literal that inserted it named an entry we never
// saw; the value is unknown only when the literal was too long to decode.
type entry struct {
	name, value           string
	nameKnown, valueKnown bool
	// size is a lower bound on the RFC 7541 size (len(name)+len(value)+32).
	// It is exact when both name and value are known.
	size uint64
}

// table is a ring of dynamic table entries, oldest at head. Entry k (0 =
// newest) is wire index StaticTableLen+1+k.
type table struct {
	ents []entry // len is 0 or a power of two, at most MaxRetainedEntries
	head int
	n    int
	size uint64 // sum of the entries' size lower bounds
	// unknown counts entries with an unknown name or value.
	unknown int
	// gen changes with every entry added or removed: while it stays, every
	// index refers to the same entry.
	gen uint64
}

// at returns entry k, counting from the newest (k < t.n).
func (t *table) at(k int) *entry {
	return &t.ents[(t.head+t.n-1-k)&(len(t.ents)-1)]
}

func (t *table) push(e entry) {
	if t.n == len(t.ents) {
		t.grow()
	}
	t.ents[(t.head+t.n)&(len(t.ents)-1)] = e
	t.n++
	t.gen++
	t.size += e.size
	if !e.nameKnown || !e.valueKnown {
		t.unknown++
	}
}

func (t *table) grow() {
	ne := make([]entry, max(8, 2*len(t.ents)))
	for i := 0; i < t.n; i++ {
		ne[i] = t.ents[(t.head+i)&(len(t.ents)-1)]
	}
	t.ents, t.head = ne, 0
}

// popOldest removes the oldest entry; it clears the slot so that the
// strings can be collected.
func (t *table) popOldest() {
	e := &t.ents[t.head]
	t.size -= e.size
	if !e.nameKnown || !e.valueKnown {
		t.unknown--
	}
	*e = entry{}
	t.head = (t.head + 1) & (len(t.ents) - 1)
	t.n--
	t.gen++
}

func (t *table) clear() {
	for t.n > 0 {
		t.popOldest()
	}
	t.head = 0
}
