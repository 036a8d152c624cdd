// Package hpack decodes HPACK (RFC 7541) header blocks for a passive
// observer of HTTP/2 connections.
//
// A normal HPACK decoder sees a connection from its first byte. An observer
// may start watching mid-connection, or lose bytes to a gap, and then does
// not know the entries the encoder inserted into its dynamic table while
// nobody was looking. This decoder never guesses them: a field that refers
// to such an entry is reported with NameKnown or ValueKnown false. A wrong
// value is worse than an unknown one.
//
// The dynamic table is indexed from its newest entry, and eviction removes
// the oldest. So after Reset(false) the entries inserted by literals we have
// observed are exactly the newest entries of the encoder's table, whatever
// came before them: index 62+k with k smaller than the number of entries
// learned is known, and anything older is unknown. Holding on to an entry
// longer than the encoder does can never change what a valid index refers
// to, so when the table's maximum size is uncertain the decoder keeps
// entries up to its own bound (MaxRetainedBytes) rather than evict early.
//
// The decoder holds the "whole" table when it provably has every entry of
// the encoder's table: after NewDecoder or Reset(true), or once the entries
// learned since the last uncertainty cannot leave room for any older entry
// under a known upper bound of the table size (from a dynamic table size
// update, or SetMaxTableSizeBound). Then an index past the end of the table
// is an error. Otherwise the decoder is "partial" and such an index is an
// unknown field. Even in the whole table an entry can have an unknown name,
// when the literal that inserted it took its name from an older unknown
// entry; it stays so until evicted. Complete reports the state where
// neither kind of unknown remains.
//
// A Decoder is not safe for concurrent use. Use one per connection and
// direction.
package hpack

import (
	"errors"
	"fmt"
	"math"

	xhpack "golang.org/x/net/http2/hpack"
)

// Limits. Each keeps the cost of hostile input bounded.
const (
	// MaxStringLength bounds the encoded length of one string literal.
	// Longer strings are skipped without being decoded or copied, and
	// Decode returns ErrStringTooLong.
	MaxStringLength = 64 << 10

	// MaxFieldsPerBlock bounds the number of fields in one header block.
	MaxFieldsPerBlock = 4096

	// MaxHeaderListSize bounds the decoded size of one header block,
	// counted as in RFC 9113 section 6.5.2 (name + value + 32 per field).
	// Without it a small block referencing a large entry many times (an
	// HPACK bomb) would expand to megabytes.
	MaxHeaderListSize = 256 << 10

	// MaxRetainedBytes bounds the dynamic table the decoder keeps, in RFC
	// 7541 entry sizes. Entries beyond it are dropped oldest first even if
	// the encoder may still hold them; references to them become unknown.
	MaxRetainedBytes = 64 << 10

	// MaxRetainedEntries is the most entries the decoder keeps. It follows
	// from MaxRetainedBytes, as every entry is at least 32 bytes.
	MaxRetainedEntries = MaxRetainedBytes / entryOverhead

	// DefaultMaxTableSize is the dynamic table size every HPACK context
	// starts with (the initial SETTINGS_HEADER_TABLE_SIZE).
	DefaultMaxTableSize = 4096
)

// Errors that mean the block is malformed, or that our view of the dynamic
// table was wrong. After one of these the decoder discards its table and
// continues in the partial state.
var (
	ErrTruncated          = errors.New("hpack: truncated header block")
	ErrIntegerOverflow    = errors.New("hpack: integer too large")
	ErrInvalidIndex       = errors.New("hpack: invalid table index")
	ErrInvalidHuffman     = errors.New("hpack: invalid Huffman-encoded string")
	ErrSizeUpdatePosition = errors.New("hpack: dynamic table size update after a header field")
)

// Errors that mean the block exceeded a limit. The decoder still parses the
// rest of the block to keep its table in step, but emits no more fields.
var (
	ErrStringTooLong      = errors.New("hpack: string literal longer than MaxStringLength")
	ErrTooManyFields      = errors.New("hpack: header block has more than MaxFieldsPerBlock fields")
	ErrHeaderListTooLarge = errors.New("hpack: header list larger than MaxHeaderListSize")
)

func isLimit(err error) bool {
	return err == ErrStringTooLong || err == ErrTooManyFields || err == ErrHeaderListTooLarge
}

// DecodeError is the error Decode returns. It wraps one of the Err values
// of this package.
type DecodeError struct {
	Offset int   // offset in the block of the representation at fault
	Err    error // one of the Err* values, possibly wrapped
	// Desync reports that the decoder discarded its dynamic table because
	// of this error and is now in the partial state.
	Desync bool
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v (at offset %d)", e.Err, e.Offset)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Rep is the representation of a header field on the wire (RFC 7541
// section 6).
type Rep uint8

const (
	RepIndexed         Rep = iota // 6.1 indexed header field
	RepIncremental                // 6.2.1 literal with incremental indexing
	RepWithoutIndexing            // 6.2.2 literal without indexing
	RepNeverIndexed               // 6.2.3 literal never indexed
	RepSizeUpdate                 // 6.3 dynamic table size update (Field.Index holds the new size)
)

// String returns the words Wireshark uses for http2.header.repr, without
// the "Indexed Name"/"New Name" suffix of literals (see Field.RepString).
func (r Rep) String() string {
	switch r {
	case RepIndexed:
		return "Indexed Header Field"
	case RepIncremental:
		return "Literal Header Field with Incremental Indexing"
	case RepWithoutIndexing:
		return "Literal Header Field without Indexing"
	case RepNeverIndexed:
		return "Literal Header Field never Indexed"
	case RepSizeUpdate:
		return "Maximum Header Table Size Change"
	}
	return fmt.Sprintf("Rep(%d)", uint8(r))
}

// Field is one decoded representation of a header block.
type Field struct {
	Name, Value string
	// Index is the index an indexed field refers to, or the index of a
	// literal's name (0 for a new name). For RepSizeUpdate it is the new
	// maximum table size.
	Index uint64
	// NameKnown and ValueKnown are false when the part refers to a dynamic
	// table entry the decoder never saw (or a string it would not decode).
	// Name and Value are then empty and must not be used.
	NameKnown, ValueKnown bool
	Rep                   Rep
	// HuffmanName and HuffmanValue report literals sent Huffman-coded.
	// (The small fields sit together: header lists are copied per call.)
	HuffmanName, HuffmanValue bool
}

// RepString is Rep.String with, for literals, Wireshark's "- Indexed Name"
// or "- New Name" suffix, as tshark prints http2.header.repr.
func (f Field) RepString() string {
	switch f.Rep {
	case RepIncremental, RepWithoutIndexing, RepNeverIndexed:
		if f.Index == 0 {
			return f.Rep.String() + " - New Name"
		}
		return f.Rep.String() + " - Indexed Name"
	}
	return f.Rep.String()
}

// Known reports whether both name and value are known.
func (f Field) Known() bool { return f.NameKnown && f.ValueKnown }

// Sensitive reports whether the field was sent never-indexed (RFC 7541
// section 7.1.3); intermediaries must not compress it.
func (f Field) Sensitive() bool { return f.Rep == RepNeverIndexed }

// String formats the field for debugging, with "?" for unknown parts.
func (f Field) String() string {
	if f.Rep == RepSizeUpdate {
		return fmt.Sprintf("[size update %d]", f.Index)
	}
	n, v := f.Name, f.Value
	if !f.NameKnown {
		n = "?"
	}
	if !f.ValueKnown {
		v = "?"
	}
	return n + ": " + v
}

// Stats counts what a Decoder has seen. All counters only grow.
type Stats struct {
	Blocks        uint64 // header blocks passed to Decode
	Fields        uint64 // header fields emitted (size updates excluded)
	UnknownFields uint64 // emitted fields with an unknown name or value
	UnknownNames  uint64 // emitted fields with an unknown name
	UnknownValues uint64 // emitted fields with an unknown value
	SizeUpdates   uint64 // dynamic table size updates seen
	Errors        uint64 // Decode calls that returned an error
	Desyncs       uint64 // errors after which the table was discarded
	Completions   uint64 // times the decoder regained the whole table (after Reset(false), an error or Dropped)
	Evictions     uint64 // entries evicted as RFC 7541 section 4.4 requires
	Dropped       uint64 // entries dropped beyond MaxRetainedBytes that the encoder may still hold
}

// Decoder decodes the header blocks of one direction of one connection.
type Decoder struct {
	tab table
	// whole: tab holds every entry of the encoder's dynamic table.
	// Otherwise the encoder may hold older entries we do not know.
	whole bool
	// max is the encoder's current maximum table size, when known: always
	// in a fresh connection, otherwise only after a size update.
	maxKnown bool
	max      uint32
	// bound is an upper bound on max supplied by the caller.
	boundSet bool
	bound    uint32
	scratch  sink // Huffman output, reused across strings
	stats    Stats
	// recall holds the last blocks of known indexed fields alone, for
	// Recall; fit is the one the last Decode filled, for Remember.
	recall     [recallSlots]recalled
	recallLast int // the slot last used
	fit        *recalled
}

type recalled struct {
	ready  bool // fields are the block's
	gen    uint64
	n      int
	block  [recallBlock]byte
	fields []Field
}

// recallBlock bounds the blocks Recall knows: a block of indexed fields
// alone is a byte or two per field. recallSlots is how many it knows: a
// gRPC server sends a response's headers and trailers in turn.
const (
	recallBlock = 32
	recallSlots = 2
)

// NewDecoder returns a decoder for a connection seen from its start: empty
// dynamic table of maximum size 4096.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.Reset(true)
	return d
}

// Reset forgets the dynamic table. With complete true the decoder starts
// over as at the beginning of a connection. With complete false the
// encoder's table is unknown (capture started mid-connection, or bytes were
// lost): references to entries inserted before now are reported unknown
// until they are provably evicted. Reset also forgets any bound set
// by SetMaxTableSizeBound, since SETTINGS may have changed unseen; set it
// again if it is still known to hold. Stats are kept.
func (d *Decoder) Reset(complete bool) {
	d.tab.clear()
	d.whole = complete
	d.maxKnown, d.max = complete, DefaultMaxTableSize
	d.boundSet, d.bound = false, 0
}

// SetMaxTableSizeBound tells the decoder that the encoder's maximum table
// size is at most n, typically the SETTINGS_HEADER_TABLE_SIZE the peer of
// this encoder advertised (4096 if it advertised none). Call it in stream
// order, once the encoder has acknowledged the SETTINGS (the SETTINGS ACK
// travels in the encoder's direction), since until then the encoder may use
// the old value. A bound that is too low can make references unknown or
// errors, never wrong.
//
// Without the whole table, the bound lets the decoder regain it without
// waiting for a dynamic table size update.
func (d *Decoder) SetMaxTableSizeBound(n uint32) {
	d.boundSet, d.bound = true, n
	d.shrink()
}

// Complete reports whether the decoder knows every entry of the encoder's
// dynamic table in full, so that every valid reference decodes to a known
// field.
func (d *Decoder) Complete() bool { return d.whole && d.tab.unknown == 0 }

// Whole reports whether the decoder holds every entry of the encoder's
// dynamic table, though some may have an unknown name (see Complete). With
// the whole table, a reference past its end is an error rather than an
// unknown field.
func (d *Decoder) Whole() bool { return d.whole }

// Stats returns the counters accumulated so far.
func (d *Decoder) Stats() Stats { return d.stats }

// TableLen returns the number of dynamic table entries the decoder holds.
func (d *Decoder) TableLen() int { return d.tab.n }

// TableSize returns the RFC 7541 size of the entries the decoder holds. It
// is a lower bound when some entry has an unknown name or value.
func (d *Decoder) TableSize() uint64 { return d.tab.size }

// MaxTableSize returns the best known upper bound on the encoder's maximum
// dynamic table size, and whether there is one.
func (d *Decoder) MaxTableSize() (uint32, bool) {
	lim, ok := d.limit()
	return uint32(lim), ok
}

// Entry returns dynamic table entry k, counting from the newest (k = 0 is
// wire index 62), as an indexed Field. ok is false if the decoder does not
// hold entry k.
func (d *Decoder) Entry(k int) (f Field, ok bool) {
	if k < 0 || k >= d.tab.n {
		return Field{}, false
	}
	e := d.tab.at(k)
	return Field{
		Name: e.name, Value: e.value,
		NameKnown: e.nameKnown, ValueKnown: e.valueKnown,
		Rep: RepIndexed, Index: uint64(StaticTableLen + 1 + k),
	}, true
}

// limit returns the best known upper bound on the encoder's maximum table
// size.
func (d *Decoder) limit() (uint64, bool) {
	switch {
	case d.maxKnown && d.boundSet:
		return uint64(min(d.max, d.bound)), true
	case d.maxKnown:
		return uint64(d.max), true
	case d.boundSet:
		return uint64(d.bound), true
	}
	return 0, false
}

func (d *Decoder) markWhole() {
	if !d.whole {
		d.whole = true
		d.stats.Completions++
	}
}

// evictOldest evicts the oldest entry because the encoder must have
// evicted it too. Every entry older than it, known or not, is then gone
// from the encoder's table as well, so we hold the whole table.
func (d *Decoder) evictOldest() {
	d.tab.popOldest()
	d.stats.Evictions++
	d.markWhole()
}

// dropOldest drops the oldest entry to bound memory although the encoder
// may still hold it.
func (d *Decoder) dropOldest() {
	d.tab.popOldest()
	d.stats.Dropped++
	d.whole = false
}

// checkWhole concludes that we hold the whole table when our entries leave
// no room under the size limit for even the smallest older entry. If the
// encoder held an entry older than all of ours, it would also hold all of
// ours, and its table size would exceed its maximum.
func (d *Decoder) checkWhole() {
	if d.whole {
		return
	}
	if lim, ok := d.limit(); ok && d.tab.size+entryOverhead > lim {
		d.markWhole()
	}
}

// shrink evicts entries after the size limit went down.
func (d *Decoder) shrink() {
	lim, ok := d.limit()
	if !ok {
		return
	}
	// Sizes are lower bounds: if they exceed the limit, so do the real ones.
	for d.tab.size > lim {
		d.evictOldest()
	}
	d.checkWhole()
}

// insert adds e as RFC 7541 section 4.4 says, with e.size and the table
// size being lower bounds and the limit an upper bound, which makes every
// eviction here one the encoder also made.
func (d *Decoder) insert(e entry) {
	if lim, ok := d.limit(); ok {
		if e.size > lim {
			// Too large: the encoder empties its table and adds nothing.
			d.stats.Evictions += uint64(d.tab.n)
			d.tab.clear()
			d.markWhole()
			return
		}
		for d.tab.size+e.size > lim {
			d.evictOldest()
		}
	}
	for d.tab.n > 0 && d.tab.size+e.size > MaxRetainedBytes {
		d.dropOldest()
	}
	if e.size > MaxRetainedBytes {
		// Too large to keep, though the encoder may hold it.
		d.stats.Dropped++
		d.whole = false
		return
	}
	d.tab.push(e)
	d.checkWhole()
}

// setMax applies a dynamic table size update.
func (d *Decoder) setMax(v uint32) {
	if d.boundSet && v > d.bound {
		// The encoder went past the bound we were given, so the bound is
		// stale; trust what the encoder says.
		d.boundSet = false
	}
	d.maxKnown, d.max = true, v
	d.shrink()
}

// fail discards the table after a malformed block or a reference that
// proves our table wrong.
func (d *Decoder) fail(off int, err error) error {
	d.stats.Errors++
	d.stats.Desyncs++
	d.tab.clear()
	d.whole = false
	d.maxKnown = false
	return &DecodeError{Offset: off, Err: err, Desync: true}
}

// Decode decodes one complete header block (a HEADERS or PUSH_PROMISE
// fragment with all its CONTINUATION fragments concatenated) and calls emit
// for each representation in order, dynamic table size updates included
// (Rep == RepSizeUpdate, which are not header fields). emit may be nil when
// only the table needs tracking. The strings passed to emit may be shared
// with the dynamic table; they are immutable and may be retained.
//
// On a malformed block, or a reference that proves the decoder's table
// wrong, the fields emitted before the fault stand, the rest of the block
// is lost, and the decoder falls to the partial state with an empty table
// and unknown maximum size, as after Reset(false) but keeping the bound
// from SetMaxTableSizeBound (DecodeError.Desync). On exceeding a limit the
// decoder stops emitting but keeps its table in step.
func (d *Decoder) Decode(block []byte, emit func(Field)) error {
	d.stats.Blocks++
	defer d.scratch.release()
	d.fit = nil
	fit := len(block) <= recallBlock // so far: indexed fields, all known
	var (
		p        = block
		sawField bool  // a size update after a field is an error (RFC 7541 4.2)
		mute     bool  // a limit was hit: track the table, emit nothing
		limitErr error // the first limit hit
		limitOff int
		nfields  int
		listSize uint64
	)
	for len(p) > 0 {
		off := len(block) - len(p)
		var f Field
		var err error
		switch c := p[0]; {
		case c&0x80 != 0:
			sawField = true
			p, err = d.indexed(p, &f)
		case c&0xc0 == 0x40:
			sawField = true
			f.Rep = RepIncremental
			p, err = d.literal(p, 6, &f, mute)
		case c&0xe0 == 0x20:
			if sawField {
				err = ErrSizeUpdatePosition
				break
			}
			p, err = d.sizeUpdate(p, &f)
		case c&0xf0 == 0x10:
			sawField = true
			f.Rep = RepNeverIndexed
			p, err = d.literal(p, 4, &f, mute)
		default:
			sawField = true
			f.Rep = RepWithoutIndexing
			p, err = d.literal(p, 4, &f, mute)
		}
		if err == nil && f.Rep != RepSizeUpdate && !mute {
			nfields++
			listSize += uint64(len(f.Name)+len(f.Value)) + entryOverhead
			switch {
			case nfields > MaxFieldsPerBlock:
				err = ErrTooManyFields
			case listSize > MaxHeaderListSize:
				err = ErrHeaderListTooLarge
			}
		}
		if err != nil {
			if !isLimit(err) {
				return d.fail(off, err)
			}
			if limitErr == nil {
				limitErr, limitOff = err, off
			}
			mute = true
			continue
		}
		if mute {
			continue
		}
		if f.Rep != RepIndexed || !f.NameKnown || !f.ValueKnown {
			fit = false
		}
		if f.Rep != RepSizeUpdate {
			d.stats.Fields++
			if !f.NameKnown || !f.ValueKnown {
				d.stats.UnknownFields++
				if !f.NameKnown {
					d.stats.UnknownNames++
				}
				if !f.ValueKnown {
					d.stats.UnknownValues++
				}
			}
		}
		if emit != nil {
			emit(f)
		}
	}
	if limitErr != nil {
		d.stats.Errors++
		return &DecodeError{Offset: limitOff, Err: limitErr}
	}
	if fit && len(block) > 0 {
		// Into the slot not used last, whose fields Remember will give.
		d.recallLast = (d.recallLast + 1) % recallSlots
		r := &d.recall[d.recallLast]
		r.ready, r.gen, r.n = false, d.tab.gen, len(block)
		copy(r.block[:], block)
		d.fit = r
	}
	return nil
}

// Remember keeps fields, all that the last Decode emitted, for Recall
// when that block was of known indexed fields alone (and short): such a
// block decodes to the same fields for as long as the table does not
// change. Otherwise it does nothing.
func (d *Decoder) Remember(fields []Field) {
	if r := d.fit; r != nil {
		d.fit = nil
		r.fields = append(r.fields[:0], fields...)
		r.ready = true
	}
}

// Recall returns the fields of a block Remembered lately when block is the
// same bytes and the table has not changed since, as Decode would emit
// them (and counts them as decoded). The list is the decoder's: it must
// not be changed, and it lasts until the next Decode.
func (d *Decoder) Recall(block []byte) ([]Field, bool) {
	for i := range d.recall {
		r := &d.recall[i]
		if !r.ready || r.n != len(block) || r.gen != d.tab.gen || string(r.block[:r.n]) != string(block) {
			continue
		}
		d.recallLast = i
		d.stats.Blocks++
		d.stats.Fields += uint64(len(r.fields))
		return r.fields, true
	}
	return nil, false
}

// lookup resolves a wire index. It returns &unknownEntry for a dynamic
// entry older than those we hold, when we do not hold the whole table. The
// entry must not be modified.
func (d *Decoder) lookup(idx uint64) (*entry, error) {
	if idx-1 < StaticTableLen { // idx 0 wraps around
		return &staticEntries[idx-1], nil
	}
	if idx == 0 {
		return nil, fmt.Errorf("%w 0", ErrInvalidIndex)
	}
	k := idx - StaticTableLen - 1
	if k < uint64(d.tab.n) {
		return d.tab.at(int(k)), nil
	}
	if d.whole {
		return nil, fmt.Errorf("%w %d (dynamic table has %d entries)", ErrInvalidIndex, idx, d.tab.n)
	}
	// A table of at most lim bytes holds at most lim/32 entries.
	if lim, ok := d.limit(); ok && k >= lim/entryOverhead {
		return nil, fmt.Errorf("%w %d (beyond any table of %d bytes)", ErrInvalidIndex, idx, lim)
	}
	return &unknownEntry, nil
}

// indexed parses an indexed header field (RFC 7541 6.1).
func (d *Decoder) indexed(p []byte, f *Field) ([]byte, error) {
	idx, p, err := readInt(p, 7)
	if err != nil {
		return p, err
	}
	e, err := d.lookup(idx)
	if err != nil {
		return p, err
	}
	f.Name, f.Value = e.name, e.value
	f.NameKnown, f.ValueKnown = e.nameKnown, e.valueKnown
	f.Rep, f.Index = RepIndexed, idx
	return p, nil
}

// literal parses a literal header field (RFC 7541 6.2) whose index prefix
// has n bits; f.Rep is already set. With mute set, strings that do not go
// into the table are skipped rather than decoded.
func (d *Decoder) literal(p []byte, n uint8, f *Field, mute bool) ([]byte, error) {
	idx, p, err := readInt(p, n)
	if err != nil {
		return p, err
	}
	f.Index = idx
	indexing := f.Rep == RepIncremental
	decode := indexing || !mute
	var limitErr error // ErrStringTooLong: the string was skipped

	var nameLo uint64
	if idx == 0 {
		var s str
		s, p, err = d.readString(p, decode)
		if err != nil {
			if err != ErrStringTooLong {
				return p, err
			}
			limitErr = err
		}
		f.Name, f.NameKnown, f.HuffmanName, nameLo = s.s, s.known, s.huff, s.lo
	} else {
		e, err := d.lookup(idx)
		if err != nil {
			return p, err
		}
		f.Name, f.NameKnown = e.name, e.nameKnown
		if e.nameKnown {
			nameLo = uint64(len(e.name))
		}
	}

	s, p, err := d.readString(p, decode)
	if err != nil {
		if err != ErrStringTooLong {
			return p, err
		}
		limitErr = err
	}
	f.Value, f.ValueKnown, f.HuffmanValue = s.s, s.known, s.huff

	if indexing {
		d.insert(entry{
			name: f.Name, value: f.Value,
			nameKnown: f.NameKnown, valueKnown: f.ValueKnown,
			size: nameLo + s.lo + entryOverhead,
		})
	}
	return p, limitErr
}

// sizeUpdate parses a dynamic table size update (RFC 7541 6.3).
func (d *Decoder) sizeUpdate(p []byte, f *Field) ([]byte, error) {
	v, p, err := readInt(p, 5)
	if err != nil {
		return p, err
	}
	// The limit is the decoder's SETTINGS_HEADER_TABLE_SIZE, which we may
	// not have seen, so any value readInt accepts is taken as is.
	*f = Field{Rep: RepSizeUpdate, Index: v, NameKnown: true, ValueKnown: true}
	d.stats.SizeUpdates++
	d.setMax(uint32(v))
	return p, nil
}

// readInt decodes an integer with an n-bit prefix (RFC 7541 5.1). Values
// above math.MaxUint32 are refused: no index, length or table size of a
// sane peer comes near, and it keeps the arithmetic away from overflow.
func readInt(p []byte, n uint8) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, ErrTruncated
	}
	mask := uint64(1)<<n - 1
	v := uint64(p[0]) & mask
	p = p[1:]
	if v < mask {
		return v, p, nil
	}
	for shift := uint(0); len(p) > 0; shift += 7 {
		b := p[0]
		p = p[1:]
		v += uint64(b&0x7f) << shift
		if v > math.MaxUint32 {
			return 0, p, ErrIntegerOverflow
		}
		if b&0x80 == 0 {
			return v, p, nil
		}
		if shift >= 28 { // five continuation bytes carry 35 bits: enough
			return 0, p, ErrIntegerOverflow
		}
	}
	return 0, p, ErrTruncated
}

// str is a string literal as read off the wire.
type str struct {
	s     string
	known bool   // s holds the decoded string
	huff  bool   // sent Huffman-coded
	lo    uint64 // lower bound on the decoded length; exact when known
}

// readString reads a string literal (RFC 7541 5.2). Unless decode is set
// it only skips it. A string longer than MaxStringLength is skipped and
// ErrStringTooLong returned, with the rest of p still valid.
func (d *Decoder) readString(p []byte, decode bool) (str, []byte, error) {
	if len(p) == 0 {
		return str{}, p, ErrTruncated
	}
	s := str{huff: p[0]&0x80 != 0}
	n, p, err := readInt(p, 7)
	if err != nil {
		return s, p, err
	}
	if uint64(len(p)) < n {
		return s, p, ErrTruncated
	}
	raw := p[:n]
	p = p[n:]
	if s.huff {
		s.lo = huffmanMinLen(n)
	} else {
		s.lo = n
	}
	if n > MaxStringLength {
		return s, p, ErrStringTooLong
	}
	if !decode {
		return s, p, nil
	}
	if !s.huff {
		s.s, s.known = intern(raw), true
		return s, p, nil
	}
	d.scratch = d.scratch[:0]
	if _, err := xhpack.HuffmanDecode(&d.scratch, raw); err != nil {
		return s, p, ErrInvalidHuffman
	}
	s.s, s.known, s.lo = intern(d.scratch), true, uint64(len(d.scratch))
	return s, p, nil
}

// huffmanMinLen is a lower bound on the decoded length of n bytes of
// Huffman code: codes are at most 30 bits long and padding under 8 bits.
func huffmanMinLen(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return (8*n - 7) / 30
}

// sink is an io.Writer appending to a reusable buffer.
type sink []byte

func (s *sink) Write(p []byte) (int, error) {
	*s = append(*s, p...)
	return len(p), nil
}

// release drops a buffer grown by an unusually long string, so that an idle
// connection does not keep it.
func (s *sink) release() {
	if cap(*s) > 4<<10 {
		*s = nil
	}
}
