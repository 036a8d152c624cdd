package grpc

// MessageBodyLimit is how many bytes of each message body are kept for
// display; the rest is counted but not stored.
const MessageBodyLimit = 64 << 10

// Message is one length-prefixed gRPC message.
type Message struct {
	Compressed bool
	Length     uint32
	// Body holds the first MessageBodyLimit bytes when bodies are kept.
	Body []byte
}

// framer splits one direction's DATA of a stream into messages. The
// 5-byte prefix and the body may each be split across DATA frames.
type framer struct {
	keepBody bool
	lost     bool // framing unknown: the stream's start or a byte was missed
	hdr      [5]byte
	hdrN     int
	left     uint32 // body bytes still to come
	cur      Message
}

// feed consumes DATA bytes, calling done for each completed message; the
// message is only valid during the call.
func (f *framer) feed(b []byte, done func(*Message)) {
	if f.lost {
		return
	}
	for len(b) > 0 {
		if f.hdrN < 5 {
			n := copy(f.hdr[f.hdrN:], b)
			f.hdrN += n
			b = b[n:]
			if f.hdrN < 5 {
				return
			}
			f.cur = Message{
				Compressed: f.hdr[0]&1 != 0,
				Length:     uint32(f.hdr[1])<<24 | uint32(f.hdr[2])<<16 | uint32(f.hdr[3])<<8 | uint32(f.hdr[4]),
			}
			f.left = f.cur.Length
			if f.hdr[0]&^1 != 0 {
				// Reserved flag bits set: this is not a message prefix, so
				// the framing is not what we think it is.
				f.lost = true
				return
			}
		}
		n := min(uint32(len(b)), f.left)
		if f.keepBody && len(f.cur.Body) < MessageBodyLimit {
			keep := min(int(n), MessageBodyLimit-len(f.cur.Body))
			f.cur.Body = append(f.cur.Body, b[:keep]...)
		}
		f.left -= n
		b = b[n:]
		if f.left == 0 {
			f.hdrN = 0
			// done sees the framer's own message, valid during the call:
			// a copy handed to a func value would escape to the heap.
			done(&f.cur)
			f.cur = Message{}
		}
	}
}
