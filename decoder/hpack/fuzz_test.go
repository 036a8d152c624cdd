package hpack

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	xhpack "golang.org/x/net/http2/hpack"
)

// frameBlocks joins header blocks as the fuzz input: each block is
// preceded by its length as two big-endian bytes.
func frameBlocks(blocks ...[]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// splitBlocks undoes frameBlocks; a short last block takes what is left.
func splitBlocks(data []byte) [][]byte {
	var blocks [][]byte
	for len(data) >= 2 {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		blocks = append(blocks, data[:n])
		data = data[n:]
	}
	return blocks
}

// FuzzDecode feeds a sequence of header blocks to x/net's decoder, taken as
// the truth while it accepts them, and to three of ours: one from the
// start, and two that missed the first block (one with the bound 4096 that
// x/net enforces). Ours may refuse more, or know less, but whatever they
// report as known must be exactly the truth, and from the start with no
// error so far they must agree with x/net completely.
func FuzzDecode(f *testing.F) {
	f.Add(frameBlocks(
		dehex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
		dehex("8286 84be 5808 6e6f 2d63 6163 6865"),
		dehex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65")))
	f.Add(frameBlocks(
		dehex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
		dehex("8286 84be 5886 a8eb 1064 9cbf"),
		dehex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")))
	// C.5 and C.6 assume a 256-byte table; a size update says so.
	f.Add(frameBlocks(
		dehex(`3fe1 01 4803 3330 3258 0770 7269 7661 7465 611d
			4d6f 6e2c 2032 3120 4f63 7420 3230 3133
			2032 303a 3133 3a32 3120 474d 546e 1768
			7474 7073 3a2f 2f77 7777 2e65 7861 6d70
			6c65 2e63 6f6d`),
		dehex("4803 3330 37c1 c0bf"),
		dehex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420
			3230 3133 2032 303a 3133 3a32 3220 474d
			54c0 5a04 677a 6970 7738 666f 6f3d 4153
			444a 4b48 514b 425a 584f 5157 454f 5049
			5541 5851 5745 4f49 553b 206d 6178 2d61
			6765 3d33 3630 303b 2076 6572 7369 6f6e
			3d31`)))
	f.Add(frameBlocks(
		dehex(`3fe1 01 4882 6402 5885 aec3 771a 4b61 96d0 7abe
			9410 54d4 44a8 2005 9504 0b81 66e0 82a6
			2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
			e9ae 82ae 43d3`),
		dehex("4883 640e ffc1 c0bf"),
		dehex(`88c1 6196 d07a be94 1054 d444 a820 0595
			040b 8166 e084 a62d 1bff c05a 839b d9ab
			77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
			3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
			9587 3160 65c0 03ed 4ee5 b106 3d50 07`)))
	first, steady := grpcBlocks()
	f.Add(frameBlocks(first, steady))
	for seed := range uint64(3) {
		s := encodeStream(seed, 12, func(i int, e *xhpack.Encoder) {
			if i == 6 {
				e.SetMaxDynamicTableSize(512)
			}
		})
		f.Add(frameBlocks(s.blocks...))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		blocks := splitBlocks(data)
		truth := xhpack.NewDecoder(4096, nil)
		truthOK := true
		full := NewDecoder()
		fullClean := true // full has accepted every block
		late := NewDecoder()
		late.Reset(false)
		lateBound := NewDecoder()
		lateBound.Reset(false)
		lateBound.SetMaxTableSizeBound(4096)
		// recalling recalls what it may, plain decodes every block.
		recalling, plain := NewDecoder(), NewDecoder()

		for i, b := range blocks {
			var want []xhpack.HeaderField
			if truthOK {
				var err error
				if want, err = truth.DecodeFull(b); err != nil {
					truthOK = false
				}
			}
			check := func(name string, d *Decoder, exact bool) {
				wasComplete := d.Complete()
				got, err := decodeAll(t, d, b)
				if d.TableSize() > MaxRetainedBytes || d.TableLen() > MaxRetainedEntries {
					t.Fatalf("%s: table %d bytes, %d entries", name, d.TableSize(), d.TableLen())
				}
				if !truthOK {
					return
				}
				if len(got) > len(want) || (err == nil && len(got) != len(want)) {
					t.Fatalf("block %d %s: %d fields (err %v), x/net %d", i, name, len(got), err, len(want))
				}
				for j, g := range got {
					w := want[j]
					if (g.NameKnown && g.Name != w.Name) || (g.ValueKnown && g.Value != w.Value) || g.Sensitive() != w.Sensitive {
						t.Fatalf("block %d %s field %d: WRONG %v (never-indexed %v), x/net %v", i, name, j, g, g.Sensitive(), w)
					}
					if (exact || wasComplete) && err == nil && !g.Known() {
						t.Fatalf("block %d %s field %d: unknown %v, x/net %v", i, name, j, g, w)
					}
				}
			}
			rgot, recalled := recalling.Recall(b)
			var rerr error
			if !recalled {
				rgot, rerr = decodeAll(t, recalling, b)
				recalling.Remember(rgot)
			}
			rgot = slices.Clone(rgot)
			fgot, ferr := decodeAll(t, plain, b)
			if (rerr == nil) != (ferr == nil) || len(rgot) != len(fgot) {
				t.Fatalf("block %d: recalling decoder %d fields (err %v, recalled %v), plain %d (err %v)", i, len(rgot), rerr, recalled, len(fgot), ferr)
			}
			for j := range fgot {
				if rgot[j] != fgot[j] {
					t.Fatalf("block %d field %d: recalling decoder %+v (recalled %v), plain %+v", i, j, rgot[j], recalled, fgot[j])
				}
			}
			if recalling.Stats() != plain.Stats() || fmt.Sprint(tableOf(recalling)) != fmt.Sprint(tableOf(plain)) {
				t.Fatalf("block %d: the recalling decoder's table or stats differ from the plain one's", i)
			}
			check("full", full, fullClean)
			if full.Stats().Errors > 0 {
				fullClean = false
			}
			if i > 0 {
				check("late", late, false)
				check("lateBound", lateBound, false)
			}
		}
	})
}
