//go:build ignore

// hoptap's kernel half. cgroup_skb programs at the cgroup v2 root copy TCP
// packets of every socket on the node into a ring buffer; sock_ops and a
// tracepoint report connection lifecycle, RTT and retransmits; cgroup sock
// hooks that run in process context attribute sockets to processes;
// tcx programs, attached only on interfaces the user names, stamp the
// same segments where they cross those interfaces (wire timing).
//
// Every program only reads: cgroup_skb and sock_addr programs return 1
// (allow), tcx programs TCX_NEXT (carry on as if they were not there),
// sock_ops only asks for state callbacks. Nothing here can drop,
// alter or delay a packet or a syscall.

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Go listens with MPTCP by default (falling back to TCP per connection).
#define IPPROTO_MPTCP_ 262

#define AF_INET 2
#define AF_INET6 10

// tcx's "go on to the next program, then the stack", as linux/bpf.h
// names it since 6.6 (older headers lack it).
#define TCX_NEXT_ (-1)

// Set by the loader before the programs are verified.
volatile const __u32 snaplen = 65535;   // bytes kept from the IP header on
volatile const __u32 payload_mode = 0;  // 0 auto, 1 all, 2 headers only
volatile const __u32 filter_ports = 0;  // port_list or port_bits must match
// Up to PORT_LIST selected ports, compared one by one from a single cache
// line (port_count of them); more go in port_bits. At a fixed rate the
// program's data has gone cold by the next segment, so every line it
// touches is a miss, and the bitmap's two lines (one per port of the
// segment) cost more than the compares.
#define PORT_LIST 16
volatile const __u32 port_count = 0;
volatile const __u16 port_list[PORT_LIST] __attribute__((aligned(32))) = {};
volatile const __u32 filter_hosts = 0;  // the prefixes map must match
volatile const __u32 filter_cgroups = 0; // the cgroups map must match
// Do not copy a packet's second observation (a local receiver's ingress
// of what a local sender's egress already copied); only count it.
volatile const __u32 drop_twins = 0;
// Copy a second observation's headers only, flagged as a twin with the
// time of the first: the receiver's timing without the payload twice.
volatile const __u32 stamp_twins = 0;
// CPUs the twins table has rows for.
volatile const __u32 twin_cpus = 1;
// Set at run time: copy stamped twins' payload too (someone records the
// packets themselves).
volatile __u32 twin_payload = 0;
// Set at run time: leave out the segments of HTTP/2 connections that are
// whole PING and WINDOW_UPDATE frames (a third of unary gRPC's segments,
// which nobody decoding calls needs). The next segment copied of that
// socket and direction says how many bytes right before it were left
// out, so user space skips them at a frame boundary instead of losing
// its place in the stream.
volatile __u32 elide_control = 0;
// elide_control may be turned on: a segment then tells what was left out
// before it even while elide_control is off again.
volatile const __u32 elide_allowed = 0;
// elide_acks: leave out bare ACKs of HTTP/2 connections always (nobody
// records the packets); elide_control does too while it is on.
volatile const __u32 elide_acks = 0;
// Wake the reader only once this much is waiting; it also polls on a
// short timer. Waking per event would cost a context switch per packet.
volatile const __u64 wakeup_bytes = 1 << 20;
// More ports than PORT_LIST, one bit each: a load and a shift per port,
// where a hash map cost two helper calls. Last, so that the scalars above
// share their cache lines.
volatile const __u64 port_bits[1024] = {};

enum event_kind {
	EV_PACKET = 1,
	EV_OWNER = 2,
	EV_SOCK = 3,
	EV_RETRANS = 4,
	EV_STAMP = 5,
	EV_TAG_STAMP = 6,
	EV_WIRE = 7, // a pkt_event from a tcx program: headers only, no socket
	EV_CGROUP = 8, // a cgroup v2 was made: its id and path
};

enum pkt_flag {
	PKT_SNAPLEN = 1,  // cut by the snap length
	PKT_OMITTED = 2,  // payload not copied: connection is neither HTTP/2 nor TLS
	PKT_TWIN = 4,     // second observation (stamp_twins): twin_ts is the first's
};

enum conn_class {
	CLASS_UNDECIDED = 0,
	CLASS_H2 = 1,
	CLASS_TLS = 2,
	CLASS_OTHER = 3,
};

// Payload packets looked at before an unrecognised connection counts as
// "other" and stops being copied.
#define UNDECIDED_LIMIT 32

struct pkt_event {
	__u8 kind;
	__u8 dir; // 0 ingress, 1 egress
	__u8 flags;
	__u8 class;
	__u32 len;    // bytes of the packet from the IP header on
	__u32 caplen; // bytes that follow this header
	__u32 ifindex;
	__u64 ts;
	__u64 cookie;
	__u64 cgroup;
	__u64 twin_ts; // PKT_TWIN: when the sender's egress saw this segment
	__u32 elided;  // bytes right before this segment left out (elide_control)
	__u32 pad;
};

struct owner_event {
	__u8 kind;
	__u8 hook; // enum owner_hook
	__u16 pad;
	__u32 tgid;
	__u32 pid;
	__u32 pad2;
	__u64 ts;
	__u64 cookie;
	__u64 cgroup;
	char comm[16];
};

enum owner_hook {
	HOOK_CREATE = 1,
	HOOK_CONNECT = 2,
	HOOK_GETSOCKNAME = 3,
	HOOK_GETPEERNAME = 4,
};

struct sock_event {
	__u8 kind;
	__u8 op; // enum sock_op
	__u8 family;
	__u8 state;
	__u32 srtt_us;
	__u32 total_retrans;
	__u16 lport; // host order
	__u16 rport; // host order
	__u64 ts;
	__u64 cookie;
	__u64 handshake_ns; // connect() to established, active opens only
	__u8 laddr[16];
	__u8 raddr[16];
};

enum sock_op {
	SOCK_ACTIVE_ESTABLISHED = 1,
	SOCK_PASSIVE_ESTABLISHED = 2,
	SOCK_CLOSED = 3,
};

// A second observation's stamp (stamp_twins, no payload wanted): when and
// where the segment arrived, and when it left.
struct stamp_event {
	__u8 kind;
	__u8 pad[3];
	__u32 len;
	__u64 ts;
	__u64 twin_ts;
	__u64 cookie;
	__u64 cgroup;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport; // host order
	__u16 dport; // host order
	__u32 pad2;
};

// The same for a segment with payload, most of them: its ends as
// ends_tag hashes them instead of the ends and the receiving socket
// (which its own segments show).
struct tag_stamp_event {
	__u8 kind;
	__u8 pad[3];
	__u32 len;
	__u64 ts;
	__u64 twin_ts;
	__u64 tag;
};

struct retrans_event {
	__u8 kind;
	__u8 family;
	__u16 sport;
	__u16 dport;
	__u16 pad;
	__u32 state;
	__u32 pad2;
	__u64 ts;
	__u8 saddr[16];
	__u8 daddr[16];
};

// The longest cgroup path carried; a longer one is flagged cut, and user
// space leaves that cgroup to its scans.
#define CGROUP_PATH_MAX 512

struct cgroup_event {
	__u8 kind;
	__u8 cut;   // the path was longer than CGROUP_PATH_MAX - 1
	__u16 pad;
	__u32 level; // depth below the hierarchy's root (1 for its children)
	__u64 ts;
	__u64 id;
	char path[CGROUP_PATH_MAX]; // from the hierarchy's root, NUL-ended
};

enum counter {
	CNT_PACKETS = 0,     // packets copied (or attempted)
	CNT_LOST = 1,        // packet events the ring buffer had no room for
	CNT_LOST_BYTES = 2,
	CNT_LOST_OTHER = 3,  // owner/sock/retransmit/cgroup events lost
	CNT_TRUNCATED = 4,   // packets cut by the snap length
	CNT_OMITTED = 5,     // packets whose payload was not copied by policy
	CNT_UNPARSED = 6,    // TCP packets whose headers could not be parsed
	CNT_FILTERED = 7,    // TCP packets the filters did not select
	CNT_TWINS = 8,       // second observations counted, not copied (drop_twins)
	CNT_ELIDED = 9,      // segments left out as whole PING/WINDOW_UPDATE frames (elide_control)
	CNT_ELIDED_BYTES = 10,
	CNT_ELIDED_ACKS = 11, // bare ACKs of HTTP/2 connections left out (elide_acks, elide_control)
	CNT_WAKEUPS = 12,     // wake-ups of the reader forced (wakeup_flag)
	CNT_WIRE = 13,        // segments stamped at a chosen interface (tcx)
	CNT_WIRE_UNPARSED = 14, // TCP packets at a chosen interface whose headers could not be parsed
	CNT_MAX = 15,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct prefix_key {
	__u32 prefixlen;
	__u8 addr[16]; // IPv4 as ::ffff:a.b.c.d
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix_key);
	__type(value, __u8);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64); // cgroup v2 id
	__type(value, __u8);
} cgroups SEC(".maps");

// One segment, as both of its observations see it, and when the first
// saw it.
struct twin_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 seq;
	__u32 ack;
	__u32 len;
	__u32 flags;
	__u32 pad;
};

struct twin_slot {
	struct twin_key k;
	__u64 ts;
	__u32 needed; // stamp_twins: the receiver's time of this segment matters
	__u32 pad;
};

// A segment's twin arrives within the same softirq run, a few segments
// later at most, so few slots do; a small table (16 KiB a CPU) stays in
// cache, where 4,096 slots missed on most packets (a third of the egress
// program's time, measured).
#define TWIN_SLOTS 256

// Segments copied at a local sender's egress, so that their arrival at a
// local receiver's ingress is recognised (drop_twins, stamp_twins). A local
// receiver's ingress runs on the sender's CPU (loopback and veth deliver
// through that CPU's backlog), so a direct-mapped table per CPU does: no
// lock and no allocation per packet, unlike a hash map. A slot
// overwritten before its twin arrived only means the twin is copied. One
// plain array, TWIN_SLOTS rows per CPU (the loader sizes it): a per-CPU
// array reaches each slot through a table of pointers, a second cache
// miss per packet.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TWIN_SLOTS); // times twin_cpus, set by the loader
	__type(key, __u32);
	__type(value, struct twin_slot);
} twins SEC(".maps");

static __always_inline __u32 twin_slot(const struct twin_key *k)
{
	__u32 h = k->seq * 0x9e3779b1u ^ k->ack * 0x85ebca6bu ^ ((__u32)k->sport << 16 | k->dport) ^ k->len;
	return (h ^ (h >> 15)) & (TWIN_SLOTS - 1);
}

static __always_inline struct twin_slot *twin_lookup(const struct twin_key *k)
{
	__u32 cpu = bpf_get_smp_processor_id();
	if (cpu >= twin_cpus)
		return 0;
	__u32 idx = cpu * TWIN_SLOTS + twin_slot(k);
	return bpf_map_lookup_elem(&twins, &idx);
}

static __always_inline int twin_equal(const struct twin_key *a, const struct twin_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 diff = 0;
	for (int i = 0; i < (int)(sizeof(*a) / 8); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

struct class_state {
	__u8 class;
	__u8 undecided;
	__u16 pad;
	// elide_control, by direction (0 ingress, 1 egress): bytes left out
	// and not yet told, which end at sequence number el_end.
	__u32 el_len[2];
	__u32 el_end[2];
};

// Per socket: what its connection was recognised as. Socket-local
// storage: found from the socket itself, freed with it.
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct class_state);
} classes SEC(".maps");

// Sockets whose class is decided, by cookie: cookie << 8 | class in one
// 64-bit word (written and read whole, so never torn), direct-mapped. A
// hit spares the socket-storage lookup, the dearest helper per packet; a
// miss (another socket in the slot) takes it, and refills the slot.
//
// Beside it, for elide_control, by direction: whether the socket has
// bytes left out not yet told, as cookie << 1 | pending, so that a
// segment need not look at its socket's storage to know it has nothing
// to tell. Each word is written only by its own path (the class word by
// classify, a direction's word by that direction, one at a time per
// socket, like the storage it mirrors); a word of another socket (the
// slot is shared) says nothing, and the storage is looked at. The three
// share a slot of 32 bytes, within one cache line (global data is page
// aligned), so that a packet misses once for them, not twice.
#define CLASS_SLOTS 4096
struct sock_slot {
	__u64 class;
	__u64 elide[2];
	__u64 pad;
};
struct sock_slot sock_cache[CLASS_SLOTS] __attribute__((aligned(64))) = {};

static __always_inline __u32 cookie_slot(__u64 cookie)
{
	return (cookie * 0x9e3779b97f4a7c15ull) >> 52;
}

static __always_inline __u64 *class_slot(__u64 cookie)
{
	return &sock_cache[cookie_slot(cookie) & (CLASS_SLOTS - 1)].class;
}

static __always_inline __u64 *elide_slot(__u64 cookie, __u8 dir)
{
	return &sock_cache[cookie_slot(cookie) & (CLASS_SLOTS - 1)].elide[dir & 1];
}

// Per socket: the last process that used it, so each is reported once.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} owners SEC(".maps");

// Per socket: when connect() began, for the handshake time.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} connects SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

// wakeup_flag wakes the reader once for every wakeup_bytes that come to
// wait in the ring: on the record whose reservation (size bytes, header
// included) took the waiting data past a multiple of it. Not on every
// record past it: a reader slow to run (niced, or busy) was woken again
// for each, and a wake-up is an interrupt (a VM exit under a hypervisor)
// in the sending application's path. The reader sleeps only once it has
// read all there is, so it never sleeps with data past the threshold
// unwoken; its poll interval bounds the rest.
static __always_inline __u64 wakeup_flag(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 before = avail > size ? avail - size : 0;
	if (avail / wakeup_bytes == before / wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	count(CNT_WAKEUPS, 1);
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline int port_bit(__u16 p)
{
	return (port_bits[(p >> 6) & 1023] >> (p & 63)) & 1;
}

static __always_inline int port_selected(__u16 a, __u16 b)
{
	if (!filter_ports)
		return 1;
	if (port_count) {
		for (int i = 0; i < PORT_LIST; i++) {
			if (i >= port_count)
				break;
			__u16 p = port_list[i];
			if (p == a || p == b)
				return 1;
		}
		return 0;
	}
	return port_bit(a) || port_bit(b);
}

static __always_inline int addr_selected(struct prefix_key *a, struct prefix_key *b)
{
	if (!filter_hosts)
		return 1;
	return bpf_map_lookup_elem(&prefixes, a) || bpf_map_lookup_elem(&prefixes, b);
}

static __always_inline int cgroup_selected(struct __sk_buff *skb)
{
	if (!filter_cgroups)
		return 1;
	// The socket's cgroup or any ancestor: a pod's cgroup holds its
	// containers' cgroups.
	for (int level = 0; level < 16; level++) {
		__u64 id = bpf_skb_ancestor_cgroup_id(skb, level);
		if (!id)
			break;
		if (bpf_map_lookup_elem(&cgroups, &id))
			return 1;
	}
	return 0;
}

static __always_inline void v4_key(struct prefix_key *k, __u32 addr)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->prefixlen = 128;
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	__builtin_memcpy(&k->addr[12], &addr, 4);
}

// classify_sk looks at the first payload bytes of a socket's packets: the
// HTTP/2 client preface, a TLS record, or an HTTP/2 frame header (for
// connections that began before the capture).
static __always_inline __u8 classify_sk(struct __sk_buff *skb, __u32 off, __u32 paylen)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return CLASS_UNDECIDED;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return CLASS_UNDECIDED;
	struct class_state *st = bpf_sk_storage_get(&classes, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return CLASS_UNDECIDED;
	if (st->class != CLASS_UNDECIDED || paylen == 0)
		return st->class;
	__u8 b[9] = {};
	if (paylen < 9 || bpf_skb_load_bytes(skb, off, b, 9) < 0) {
		goto undecided;
	}
	if (b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*') {
		st->class = CLASS_H2;
		return st->class;
	}
	// TLS: handshake, alert, change_cipher_spec or application data,
	// version 3.x.
	if (b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04) {
		st->class = CLASS_TLS;
		return st->class;
	}
	// An HTTP/2 frame header, for connections that began before the
	// capture: a length within the default frame size, a known type, only
	// that type's flags, the reserved bit clear, and a stream id where
	// the type needs one (or none where it must have none).
	if (b[0] == 0 && ((b[1] << 8) | b[2]) <= 16384 && b[3] <= 0x09 && (b[5] & 0x80) == 0) {
		static const __u8 flags_allowed[10] = {0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04};
		__u8 type = b[3] & 0x0f;
		int stream0 = (b[5] | b[6] | b[7] | b[8]) == 0;
		int needs0 = type == 4 || type == 6 || type == 7;
		int any = type == 8;
		if (type < 10 && (b[4] & ~flags_allowed[type]) == 0 && (any || stream0 == needs0)) {
			st->class = CLASS_H2;
			return st->class;
		}
	}
undecided:
	if (++st->undecided >= UNDECIDED_LIMIT)
		st->class = CLASS_OTHER;
	return st->class;
}

// classify_cached is a socket's class if the cache of decided sockets
// has it, else CLASS_UNDECIDED.
static __always_inline __u8 classify_cached(__u64 cookie)
{
	if (!cookie)
		return CLASS_UNDECIDED;
	__u64 v = *(volatile __u64 *)class_slot(cookie);
	if (v && v >> 8 == (cookie & 0x00ffffffffffffffull))
		return v & 0xff;
	return CLASS_UNDECIDED;
}

// classify is classify_sk, through the cache of decided sockets.
static __always_inline __u8 classify(struct __sk_buff *skb, __u64 cookie, __u32 off, __u32 paylen)
{
	__u8 class = classify_cached(cookie);
	if (class != CLASS_UNDECIDED)
		return class;
	class = classify_sk(skb, off, paylen);
	if (cookie && class != CLASS_UNDECIDED)
		*(volatile __u64 *)class_slot(cookie) = (cookie << 8) | class;
	return class;
}

static __always_inline struct class_state *sk_state(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 0;
	return bpf_sk_storage_get(&classes, sk, 0, 0);
}

// elide leaves out a segment of whole PING and WINDOW_UPDATE frames,
// adding it to the range of its socket and direction not yet told; 0
// when it must be copied after all.
static __always_inline int elide(struct __sk_buff *skb, __u64 cookie, __u8 dir, __u32 seq, __u32 paylen)
{
	struct class_state *st = sk_state(skb);
	if (!st || !cookie)
		return 0;
	__u32 d = dir & 1;
	__u32 n = st->el_len[d];
	if (n && st->el_end[d] == seq) {
		if (n > (1u << 30))
			return 0;
		n += paylen;
	} else if (n && (__s32)(seq - st->el_end[d]) < 0) {
		return 0; // older bytes again (a retransmission): copied as they are
	} else {
		// A range not told before this one (its next segment was never
		// seen here) is a hole user space counts as a gap.
		n = paylen;
	}
	st->el_len[d] = n;
	st->el_end[d] = seq + paylen;
	*(volatile __u64 *)elide_slot(cookie, d) = cookie << 1 | 1;
	count(CNT_ELIDED, 1);
	count(CNT_ELIDED_BYTES, paylen);
	return 1;
}

// tell_elided puts into a segment's event the bytes left out right
// before it, if any; a range that this segment skips past was not
// followed by a segment seen here, and is forgotten (a hole user space
// sees and counts).
static __always_inline void tell_elided(struct __sk_buff *skb, struct pkt_event *hdr, __u32 seq)
{
	__u32 d = hdr->dir & 1;
	__u64 cookie = hdr->cookie;
	__u64 *slot = elide_slot(cookie, d);
	if (cookie && *(volatile __u64 *)slot == cookie << 1)
		return; // nothing left out
	struct class_state *st = sk_state(skb);
	if (!st)
		return;
	if (st->el_len[d]) {
		if (st->el_end[d] == seq) {
			hdr->elided = st->el_len[d];
			st->el_len[d] = 0;
		} else if ((__s32)(seq - st->el_end[d]) > 0) {
			st->el_len[d] = 0;
		} // else an older segment again: the range waits for the one after it
	}
	if (cookie)
		*(volatile __u64 *)slot = cookie << 1 | (st->el_len[d] != 0);
}

// load reads packet bytes: from the IP header on (cgroup_skb's packets
// start there) or, with rel, from the network header of a packet that
// starts with its link-layer header (tcx).
static __always_inline long load(struct __sk_buff *skb, __u32 off, void *to, __u32 n, int rel)
{
	if (rel)
		return bpf_skb_load_bytes_relative(skb, off, to, n, BPF_HDR_START_NET);
	return bpf_skb_load_bytes(skb, off, to, n);
}

// emit copies caplen bytes of the packet (from where load's rel says)
// into a ring buffer record of size hdr+N, N being a constant the
// verifier can check.
#define EMIT_CLASS(N)                                                        \
	if (caplen <= N) {                                                   \
		struct {                                                     \
			struct pkt_event h;                                  \
			__u8 data[N];                                        \
		} *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);      \
		if (!rec)                                                    \
			goto lost;                                           \
		rec->h = *hdr;                                               \
		if (load(skb, 0, rec->data, ((caplen - 1) & (N - 1)) + 1, rel) < 0) { \
			bpf_ringbuf_discard(rec, 0);                         \
			count(CNT_UNPARSED, 1);                              \
			return;                                              \
		}                                                            \
		bpf_ringbuf_submit(rec, wakeup_flag(sizeof(*rec) + 8));      \
		return;                                                      \
	}

static __always_inline void emit(struct __sk_buff *skb, struct pkt_event *hdr, int rel)
{
	__u32 caplen = hdr->caplen;
	if (caplen == 0 || caplen > 65536)
		return;
	EMIT_CLASS(128)
	EMIT_CLASS(256)
	EMIT_CLASS(512)
	EMIT_CLASS(1024)
	EMIT_CLASS(2048)
	EMIT_CLASS(4096)
	EMIT_CLASS(8192)
	EMIT_CLASS(16384)
	EMIT_CLASS(32768)
	EMIT_CLASS(65536)
	return;
lost:
	count(CNT_LOST, 1);
	count(CNT_LOST_BYTES, hdr->len);
}

// ends_tag hashes a segment's ends as bpf.EndsTag does in Go (a test
// holds them to it): source and destination ports, then each address's
// two little-endian words.
static __always_inline __u64 ends_tag(struct prefix_key *src, struct prefix_key *dst, __u16 sport, __u16 dport)
{
	__u64 h = ((__u64)sport << 16) | dport;
	__u64 w[4];
	__builtin_memcpy(&w[0], src->addr, 16);
	__builtin_memcpy(&w[2], dst->addr, 16);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return h;
}

// emit_tag_stamp sends a second observation of a segment with payload:
// its ends hashed and the two times, a third of a stamp's size.
static __always_inline void emit_tag_stamp(struct prefix_key *src, struct prefix_key *dst, __u16 sport, __u16 dport,
					   __u32 len, __u64 now, __u64 twin_ts)
{
	count(CNT_PACKETS, 1);
	struct tag_stamp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_LOST, 1);
		count(CNT_LOST_BYTES, len);
		return;
	}
	e->kind = EV_TAG_STAMP;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->len = len;
	e->ts = now;
	e->twin_ts = twin_ts;
	e->tag = ends_tag(src, dst, sport, dport);
	bpf_ringbuf_submit(e, wakeup_flag(sizeof(*e) + 8));
}

// emit_stamp sends a second observation as its stamp alone: the
// receiver's socket and time, the segment's ends, the sender's time.
static __always_inline void emit_stamp(struct __sk_buff *skb, struct prefix_key *src, struct prefix_key *dst,
				       __u16 sport, __u16 dport, __u32 len, __u64 now, __u64 twin_ts)
{
	count(CNT_PACKETS, 1);
	struct stamp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_LOST, 1);
		count(CNT_LOST_BYTES, len);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = EV_STAMP;
	e->len = len;
	e->ts = now;
	e->twin_ts = twin_ts;
	e->cookie = bpf_get_socket_cookie(skb);
	e->cgroup = bpf_skb_cgroup_id(skb);
	__builtin_memcpy(e->saddr, src->addr, 16);
	__builtin_memcpy(e->daddr, dst->addr, 16);
	e->sport = sport;
	e->dport = dport;
	bpf_ringbuf_submit(e, wakeup_flag(sizeof(*e) + 8));
}

enum seg_kind {
	SEG_NEEDED = 0,  // the receiver's time matters
	SEG_PASSIVE = 1, // it does not: DATA not ending a stream, PRIORITY, PING, WINDOW_UPDATE
	SEG_CONTROL = 2, // passive, and only PING and WINDOW_UPDATE: elide_control may leave it out
};

// seg_kind walks a segment's HTTP/2 frames. Its receiver's time matters
// to the views (stamp_twins) for connection setup and teardown, and for
// segments with a frame other than DATA, PRIORITY, PING or WINDOW_UPDATE
// (headers start and end calls, SETTINGS ACKs end the HTTP/2 handshake,
// RST_STREAM and GOAWAY end streams). A segment whose frames cannot be
// walked to its end is needed. TLS and other payload never is: nothing is
// decoded from it.
static __always_inline int seg_kind(struct __sk_buff *skb, __u32 off, __u32 paylen, __u8 tcpflags, __u8 class)
{
	if (paylen == 0 || (tcpflags & 0x07)) // FIN, SYN, RST
		return SEG_NEEDED;
	if (class == CLASS_TLS || class == CLASS_OTHER)
		return SEG_PASSIVE;
	if (class != CLASS_H2)
		return SEG_NEEDED;
	// Only frames that pass their type's own checks count: a segment that
	// starts inside a frame shows bytes that are not a header.
	__u32 pos = 0;
	int control = 1;
	for (int i = 0; i < 8; i++) {
		__u8 h[9];
		if (bpf_skb_load_bytes(skb, off + pos, h, 9) < 0)
			return SEG_NEEDED;
		__u32 flen = (__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2];
		__u8 type = h[3], flags = h[4];
		int stream0 = ((h[5] & 0x7f) | h[6] | h[7] | h[8]) == 0;
		switch (type) {
		case 0: // DATA, not ending its stream
			if (stream0 || flen == 0 || (flags & ~0x08))
				return SEG_NEEDED;
			control = 0;
			break;
		case 2: // PRIORITY
			if (stream0 || flen != 5 || flags)
				return SEG_NEEDED;
			control = 0;
			break;
		case 6: // PING
			if (!stream0 || flen != 8 || (flags & ~0x01))
				return SEG_NEEDED;
			break;
		case 8: // WINDOW_UPDATE
			if (flen != 4 || flags)
				return SEG_NEEDED;
			break;
		default:
			return SEG_NEEDED;
		}
		pos += 9 + flen;
		if (pos == paylen)
			return control ? SEG_CONTROL : SEG_PASSIVE;
		if (pos > paylen)
			return SEG_NEEDED;
	}
	return SEG_NEEDED;
}

// A TCP segment's headers, as parse_seg reads them.
struct seg {
	struct prefix_key src, dst;
	struct tcphdr th;
	__u32 iphl;
	__u32 iplen; // the IP header's own length field (0 for IPv6 jumbograms)
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_TCP = 1,  // not ours: left alone, not counted
	PARSE_UNPARSED = 2, // TCP, or maybe, but its headers cannot be followed
};

// parse_seg reads the IP and TCP headers (load's rel says from where).
static __always_inline int parse_seg(struct __sk_buff *skb, int rel, struct seg *s)
{
	__u8 vihl;
	if (load(skb, 0, &vihl, 1, rel) < 0)
		return PARSE_NOT_TCP;
	if ((vihl >> 4) == 4) {
		struct iphdr ip;
		if (load(skb, 0, &ip, sizeof(ip), rel) < 0)
			return PARSE_NOT_TCP;
		if (ip.protocol != IPPROTO_TCP)
			return PARSE_NOT_TCP;
		if (ip.frag_off & bpf_htons(0x3fff))
			return PARSE_UNPARSED;
		s->iphl = (ip.ihl & 0xf) * 4;
		if (s->iphl < sizeof(ip))
			return PARSE_UNPARSED;
		s->iplen = bpf_ntohs(ip.tot_len);
		v4_key(&s->src, ip.saddr);
		v4_key(&s->dst, ip.daddr);
	} else if ((vihl >> 4) == 6) {
		struct ipv6hdr ip6;
		if (load(skb, 0, &ip6, sizeof(ip6), rel) < 0)
			return PARSE_NOT_TCP;
		// Follow extension headers (hop-by-hop, routing, destination
		// options) to TCP; fragments are not reassembled.
		__u8 nh = ip6.nexthdr;
		s->iphl = sizeof(ip6);
		s->iplen = ip6.payload_len ? bpf_ntohs(ip6.payload_len) + sizeof(ip6) : 0;
		for (int i = 0; i < 4 && nh != IPPROTO_TCP; i++) {
			if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS)
				return PARSE_NOT_TCP;
			__u8 ext[2];
			if (load(skb, s->iphl, ext, 2, rel) < 0)
				return PARSE_UNPARSED;
			nh = ext[0];
			s->iphl += (ext[1] + 1) * 8;
		}
		if (nh != IPPROTO_TCP)
			return PARSE_UNPARSED;
		s->src.prefixlen = 128;
		s->dst.prefixlen = 128;
		__builtin_memcpy(s->src.addr, &ip6.saddr, 16);
		__builtin_memcpy(s->dst.addr, &ip6.daddr, 16);
	} else {
		return PARSE_NOT_TCP;
	}
	if (load(skb, s->iphl, &s->th, sizeof(s->th), rel) < 0)
		return PARSE_UNPARSED;
	return PARSE_OK;
}

static __always_inline void capture(struct __sk_buff *skb, __u8 dir)
{
	__u32 len = skb->len;
	struct seg sg;
	int parsed = parse_seg(skb, 0, &sg);
	if (parsed == PARSE_NOT_TCP)
		return;
	if (parsed != PARSE_OK) {
		count(CNT_UNPARSED, 1);
		return;
	}
	// Used in place: copies cost the sending application instructions
	// on every packet.
	struct prefix_key *src = &sg.src, *dst = &sg.dst;
	struct tcphdr *th = &sg.th;
	__u32 iphl = sg.iphl;
	__u16 sport = bpf_ntohs(th->source);
	__u16 dport = bpf_ntohs(th->dest);
	if (!port_selected(sport, dport) || !addr_selected(src, dst) || !cgroup_selected(skb)) {
		count(CNT_FILTERED, 1);
		return;
	}
	__u32 thl = th->doff * 4;
	if (thl < sizeof(*th) || iphl + thl > len) {
		count(CNT_UNPARSED, 1);
		return;
	}
	__u32 hdrlen = iphl + thl;
	__u32 paylen = len - hdrlen;
	__u8 tcpflags = ((__u8 *)th)[13];
	__u64 cookie = 0;
	// elide_acks, elide_control: a bare acknowledgment of a connection
	// known to be HTTP/2 tells the decoder nothing it needs. Only once the
	// socket's payload was recognised, so a handshake's last ACK (which
	// dates it) is always copied. Its twin, not remembered, is left out
	// alike at the receiver. At egress this is decided before the clock
	// and the twin table are read: no twin is ever found there.
	int elide_ack = (elide_acks || (elide_allowed && elide_control)) && paylen == 0 && !(tcpflags & 0x07);
	if (dir && elide_ack) {
		cookie = bpf_get_socket_cookie(skb);
		if (classify_cached(cookie) == CLASS_H2) {
			count(CNT_ELIDED_ACKS, 1);
			return;
		}
	}

	__u64 now = bpf_ktime_get_ns();
	__u64 twin_ts = 0;
	struct twin_key tk = {};
	struct twin_slot *seen = 0;
	if (drop_twins || stamp_twins) {
		tk.sport = th->source;
		tk.dport = th->dest;
		tk.seq = th->seq;
		tk.ack = th->ack_seq;
		tk.len = len;
		tk.flags = tcpflags;
		__builtin_memcpy(tk.saddr, src->addr, 16);
		__builtin_memcpy(tk.daddr, dst->addr, 16);
		seen = twin_lookup(&tk);
		if (seen && !dir && twin_equal(&seen->k, &tk)) {
			twin_ts = seen->ts;
			__u32 needed = seen->needed;
			__builtin_memset(seen, 0, sizeof(*seen));
			if (drop_twins || (!needed && !twin_payload)) {
				count(CNT_TWINS, 1);
				return;
			}
			if (!twin_payload) {
				// The receiving socket's own segments name it, but for
				// a connection's setup and end.
				if (paylen > 0 && !(tcpflags & 0x07))
					emit_tag_stamp(src, dst, sport, dport, len, now, twin_ts);
				else
					emit_stamp(skb, src, dst, sport, dport, len, now, twin_ts);
				return;
			}
		}
	}

	if (!cookie)
		cookie = bpf_get_socket_cookie(skb); // twins counted or stamped above need none
	struct pkt_event hdr = {
		.kind = EV_PACKET,
		.dir = dir,
		.len = len,
		.ifindex = skb->ifindex,
		.ts = now,
		.cookie = cookie,
		.cgroup = bpf_skb_cgroup_id(skb),
		.twin_ts = twin_ts,
	};
	if (!dir && elide_ack && !twin_ts && classify_cached(cookie) == CLASS_H2) {
		count(CNT_ELIDED_ACKS, 1);
		return;
	}
	__u32 caplen = len;
	if (twin_ts) {
		hdr.flags |= PKT_TWIN;
		if (!twin_payload)
			caplen = hdrlen;
	}
	if (payload_mode != 1 && paylen > 0) {
		__u8 class = CLASS_OTHER;
		if (payload_mode == 0)
			class = classify(skb, hdr.cookie, hdrlen, paylen);
		hdr.class = class;
		if (class == CLASS_OTHER) {
			caplen = hdrlen;
			hdr.flags |= PKT_OMITTED;
			count(CNT_OMITTED, 1);
		}
	}
	// The frames are walked once, for the receiver's stamp and for
	// elide_control.
	int elide_here = elide_allowed && elide_control && !twin_ts && paylen > 0 && hdr.class == CLASS_H2;
	int kind = SEG_NEEDED;
	if ((dir && seen && !drop_twins) || elide_here)
		kind = seg_kind(skb, hdrlen, paylen, tcpflags, hdr.class);
	if (dir && seen) {
		// Remembered for the receiver's ingress, if it is on this node.
		seen->k = tk;
		seen->ts = now;
		seen->needed = drop_twins || kind == SEG_NEEDED;
	}
	if (elide_allowed && !twin_ts) {
		__u32 seq = bpf_ntohl(th->seq);
		if (elide_here) {
			if (kind == SEG_CONTROL && elide(skb, hdr.cookie, dir, seq, paylen))
				return;
			tell_elided(skb, &hdr, seq);
		} else if (paylen > 0 && hdr.class == CLASS_H2) {
			tell_elided(skb, &hdr, seq); // elision off: a range left out while it was on ends here
		} else if (paylen == 0 && (tcpflags & 0x05)) { // FIN, RST: a range left out before them ends here
			if (classify_cached(hdr.cookie) == CLASS_H2)
				tell_elided(skb, &hdr, seq);
		}
	}
	__u32 snap = snaplen;
	if (snap > 65535)
		snap = 65535;
	if (caplen > snap) {
		caplen = snap;
		if (!(hdr.flags & PKT_OMITTED)) {
			hdr.flags |= PKT_SNAPLEN;
			count(CNT_TRUNCATED, 1);
		}
	}
	hdr.caplen = caplen;
	count(CNT_PACKETS, 1);
	emit(skb, &hdr, 0);
}

SEC("cgroup_skb/ingress")
int hoptap_ingress(struct __sk_buff *skb)
{
	capture(skb, 0);
	return 1;
}

SEC("cgroup_skb/egress")
int hoptap_egress(struct __sk_buff *skb)
{
	capture(skb, 1);
	return 1;
}

// wire stamps a TCP segment where it crosses an interface the user chose
// (tcx): its headers and the time, so that user space can tell how long
// the node's stack held it between a socket and this interface. The same
// port and host filters apply; there is no socket here, so the cgroup
// filter cannot (user space keeps the stamps of segments it kept).
static __always_inline void wire(struct __sk_buff *skb, __u8 dir)
{
	struct seg sg;
	int parsed = parse_seg(skb, 1, &sg);
	if (parsed == PARSE_NOT_TCP)
		return;
	__u32 thl = sg.th.doff * 4;
	__u32 hdrlen = sg.iphl + thl;
	if (parsed != PARSE_OK || thl < sizeof(sg.th) || sg.iplen < hdrlen) {
		count(CNT_WIRE_UNPARSED, 1);
		return;
	}
	if (!port_selected(bpf_ntohs(sg.th.source), bpf_ntohs(sg.th.dest)) || !addr_selected(&sg.src, &sg.dst))
		return;
	__u32 caplen = hdrlen;
	__u32 snap = snaplen;
	if (caplen > snap)
		caplen = snap;
	struct pkt_event hdr = {
		.kind = EV_WIRE,
		.dir = dir,
		.len = sg.iplen,
		.caplen = caplen,
		.ifindex = skb->ifindex,
		.ts = bpf_ktime_get_ns(),
	};
	if (caplen < hdrlen)
		hdr.flags |= PKT_SNAPLEN;
	count(CNT_WIRE, 1);
	emit(skb, &hdr, 1);
}

SEC("tcx/ingress")
int hoptap_wire_ingress(struct __sk_buff *skb)
{
	wire(skb, 0);
	return TCX_NEXT_;
}

SEC("tcx/egress")
int hoptap_wire_egress(struct __sk_buff *skb)
{
	wire(skb, 1);
	return TCX_NEXT_;
}

// owner reports the process using a socket, once per (socket, process).
static __always_inline void owner(__u64 cookie, __u8 hook)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;
	__u32 *prev = bpf_map_lookup_elem(&owners, &cookie);
	if (prev && *prev == tgid)
		return;
	bpf_map_update_elem(&owners, &cookie, &tgid, BPF_ANY);
	struct owner_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_LOST_OTHER, 1);
		return;
	}
	e->kind = EV_OWNER;
	e->hook = hook;
	e->pad = 0;
	e->tgid = tgid;
	e->pid = (__u32)pt;
	e->pad2 = 0;
	e->ts = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, wakeup_flag(sizeof(*e) + 8));
}

SEC("cgroup/sock_create")
int hoptap_sock_create(struct bpf_sock *sk)
{
	if (sk->protocol == IPPROTO_TCP || sk->protocol == IPPROTO_MPTCP_)
		owner(bpf_get_socket_cookie(sk), HOOK_CREATE);
	return 1;
}

static __always_inline int addr_hook(struct bpf_sock_addr *ctx, __u8 hook)
{
	if (ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_MPTCP_)
		owner(bpf_get_socket_cookie(ctx), hook);
	return 1;
}

SEC("cgroup/connect4")
int hoptap_connect4(struct bpf_sock_addr *ctx) { return addr_hook(ctx, HOOK_CONNECT); }

SEC("cgroup/connect6")
int hoptap_connect6(struct bpf_sock_addr *ctx) { return addr_hook(ctx, HOOK_CONNECT); }

SEC("cgroup/getsockname4")
int hoptap_getsockname4(struct bpf_sock_addr *ctx) { return addr_hook(ctx, HOOK_GETSOCKNAME); }

SEC("cgroup/getsockname6")
int hoptap_getsockname6(struct bpf_sock_addr *ctx) { return addr_hook(ctx, HOOK_GETSOCKNAME); }

SEC("cgroup/getpeername4")
int hoptap_getpeername4(struct bpf_sock_addr *ctx) { return addr_hook(ctx, HOOK_GETPEERNAME); }

SEC("cgroup/getpeername6")
int hoptap_getpeername6(struct bpf_sock_addr *ctx) { return addr_hook(ctx, HOOK_GETPEERNAME); }

// sock_ops keeps the remote port in network order, in the upper half of
// the word on older kernels and the lower half on newer ones.
static __always_inline __u16 sockops_rport(struct bpf_sock_ops *skops)
{
	__u32 p = skops->remote_port;
	if ((p & 0xffff) == 0)
		return bpf_ntohl(p);
	return bpf_ntohs((__u16)p);
}

static __always_inline int sock_selected(struct bpf_sock_ops *skops)
{
	return port_selected(skops->local_port, sockops_rport(skops));
}

static __always_inline void sock_event(struct bpf_sock_ops *skops, __u64 cookie, __u8 op, __u64 handshake)
{
	struct sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_LOST_OTHER, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = EV_SOCK;
	e->op = op;
	e->family = skops->family;
	e->state = skops->state;
	e->srtt_us = skops->srtt_us >> 3; // the kernel keeps srtt << 3
	e->total_retrans = skops->total_retrans;
	e->lport = skops->local_port;
	e->rport = sockops_rport(skops);
	e->ts = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->handshake_ns = handshake;
	if (skops->family == AF_INET) {
		__u32 l = skops->local_ip4, r = skops->remote_ip4;
		e->laddr[10] = 0xff;
		e->laddr[11] = 0xff;
		e->raddr[10] = 0xff;
		e->raddr[11] = 0xff;
		__builtin_memcpy(&e->laddr[12], &l, 4);
		__builtin_memcpy(&e->raddr[12], &r, 4);
	} else {
		// One 4-byte load per word: the context allows no wider access.
		for (int i = 0; i < 4; i++) {
			__u32 l = *(volatile __u32 *)&skops->local_ip6[i];
			__u32 r = *(volatile __u32 *)&skops->remote_ip6[i];
			__builtin_memcpy(&e->laddr[i * 4], &l, 4);
			__builtin_memcpy(&e->raddr[i * 4], &r, 4);
		}
	}
	bpf_ringbuf_submit(e, wakeup_flag(sizeof(*e) + 8));
}

SEC("sockops")
int hoptap_sockops(struct bpf_sock_ops *skops)
{
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	__u32 op = skops->op;
	__u64 cookie;
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB: {
		__u64 now = bpf_ktime_get_ns();
		cookie = bpf_get_socket_cookie(skops);
		bpf_map_update_elem(&connects, &cookie, &now, BPF_ANY);
		break;
	}
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
		if (!sock_selected(skops))
			break;
		cookie = bpf_get_socket_cookie(skops);
		__u64 hs = 0;
		__u64 *start = bpf_map_lookup_elem(&connects, &cookie);
		if (start) {
			hs = bpf_ktime_get_ns() - *start;
			bpf_map_delete_elem(&connects, &cookie);
		}
		// State callbacks report the close, with the final RTT and
		// retransmit count. They change nothing on the connection.
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		sock_event(skops, cookie, op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ? SOCK_ACTIVE_ESTABLISHED : SOCK_PASSIVE_ESTABLISHED, hs);
		break;
	}
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE) {
			cookie = bpf_get_socket_cookie(skops);
			// The flag that brings this callback stays on the socket:
			// one another capture's filters selected closes here too.
			if (sock_selected(skops))
				sock_event(skops, cookie, SOCK_CLOSED, 0);
			bpf_map_delete_elem(&owners, &cookie);
			bpf_map_delete_elem(&connects, &cookie);
		}
		break;
	}
	return 1;
}

// The tracepoint's fields, from
// /sys/kernel/tracing/events/tcp/tcp_retransmit_skb/format (stable since
// Linux 4.16).
struct retransmit_args {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

SEC("tracepoint/tcp/tcp_retransmit_skb")
int hoptap_retransmit(struct retransmit_args *args)
{
	__u16 sport = args->sport, dport = args->dport;
	if (!port_selected(sport, dport))
		return 0;
	struct retrans_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_LOST_OTHER, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = EV_RETRANS;
	e->family = args->family;
	e->sport = sport;
	e->dport = dport;
	e->state = args->state;
	e->ts = bpf_ktime_get_ns();
	if (args->family == AF_INET) {
		e->saddr[10] = 0xff;
		e->saddr[11] = 0xff;
		e->daddr[10] = 0xff;
		e->daddr[11] = 0xff;
		__builtin_memcpy(&e->saddr[12], args->saddr, 4);
		__builtin_memcpy(&e->daddr[12], args->daddr, 4);
	} else {
		__builtin_memcpy(e->saddr, args->saddr_v6, 16);
		__builtin_memcpy(e->daddr, args->daddr_v6, 16);
	}
	bpf_ringbuf_submit(e, wakeup_flag(sizeof(*e) + 8));
	return 0;
}

// The layout of /sys/kernel/tracing/events/cgroup/cgroup_mkdir/format
// since Linux 5.5 (64-bit ids; hoptap needs 5.8). The path is a
// __data_loc string: offset in the low half, length in the high.
struct cgroup_mkdir_args {
	__u64 common;
	int root;
	int level;
	__u64 id;
	__u32 path_loc;
};

// A container's cgroup can be made, used and removed between two reads
// of the ring (a Job's init container making one call): its path, sent
// when it is made, comes before any packet of its sockets, so user space
// names them even once the cgroup is gone.
SEC("tracepoint/cgroup/cgroup_mkdir")
int hoptap_cgroup_mkdir(struct cgroup_mkdir_args *args)
{
	if (args->root != 0)
		return 0; // a cgroup v1 hierarchy's; v2's (the default) is 0
	struct cgroup_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_LOST_OTHER, 1);
		return 0;
	}
	e->kind = EV_CGROUP;
	e->pad = 0;
	e->level = args->level;
	e->ts = bpf_ktime_get_ns();
	e->id = args->id;
	__u32 off = args->path_loc & 0xffff, len = args->path_loc >> 16;
	e->cut = len > CGROUP_PATH_MAX;
	long n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), (void *)args + off);
	if (n < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, wakeup_flag(sizeof(*e) + 8));
	return 0;
}

// Keep the event types in BTF for bpf2go's -type.
const struct pkt_event *unused_pkt_event __attribute__((unused));
const struct owner_event *unused_owner_event __attribute__((unused));
const struct sock_event *unused_sock_event __attribute__((unused));
const struct retrans_event *unused_retrans_event __attribute__((unused));
const struct stamp_event *unused_stamp_event __attribute__((unused));
const struct tag_stamp_event *unused_tag_stamp_event __attribute__((unused));
const struct cgroup_event *unused_cgroup_event __attribute__((unused));
