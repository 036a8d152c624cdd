#!/usr/bin/env bash
# bench-read: how fast, and in how much memory, `hoptap read -o json`
# decodes a capture of many unary gRPC calls, side by side with tshark
# dissecting the same file's HTTP/2 headers (every call's :path and
# grpc-status), in one run.
#
# The capture is made once and reused: ghz sends BENCH_CALLS unary calls
# (default 20000) with a few hundred bytes of payload to the grpc-go interop
# server on loopback while dumpcap records them. It is kept under
# testdata/bench/ (gitignored), keyed by the call count, together with a
# 4x file: four copies of it one after the other, timestamps shifted, each
# copy on its own addresses so that every tool sees four times the calls.
# A second 4x file keeps the copies' addresses and ports as recorded
# (connections reusing a 4-tuple) and is only decoded to count calls.
#
# This is a benchmark, not a test: figures are printed next to their
# targets as MET / NOT MET, and it exits non-zero only on real errors (a
# tool missing and not installable, a capture that failed).
#
# Settings (environment): BENCH_CALLS (20000), BENCH_RUNS (5 timed runs
# of each command per file, after one untimed run that also counts calls),
# BENCH_CONCURRENCY (20), BENCH_CONNECTIONS (4), BENCH_PAYLOAD (200 bytes
# each way), BENCH_RERECORD=1 to record again, HOPTAP (the binary; default
# bin/hoptap, built when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

CALLS=${BENCH_CALLS:-20000}
RUNS=${BENCH_RUNS:-5}
CONC=${BENCH_CONCURRENCY:-20}
CONNS=${BENCH_CONNECTIONS:-4}
PAYLOAD=${BENCH_PAYLOAD:-200}
HOPTAP=${HOPTAP:-$here/bin/hoptap}
TOOLS=$here/.tools/bin
BENCH_DIR=$here/testdata/bench
export PATH="$TOOLS:$PATH:/usr/sbin:/sbin"

# Targets.
SPEED_TARGET=20      # tshark time / hoptap time, at least
RSS_FLAT_TARGET=1.25 # hoptap peak RSS at 4x / at 1x, at most
LINEAR_TARGET=0.80   # hoptap calls/s at 4x / at 1x, at least

die() {
	echo "bench-read: error: $*" >&2
	exit 1
}
note() { echo "bench-read: $*" >&2; }

for v in CALLS RUNS CONC CONNS PAYLOAD; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[ "$CALLS" -ge 1000 ] || die "BENCH_CALLS must be at least 1000"

work=$(mktemp -d /tmp/bench-read.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------

apt_updated=
apt_install() {
	[ "$(id -u)" = 0 ] || die "missing $*: run as root or install them: apt-get install $*"
	note "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
	if [ -z "$apt_updated" ]; then
		apt-get update -qq >/dev/null || die "apt-get update failed"
		apt_updated=1
	fi
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}

need=()
for t in tshark dumpcap editcap mergecap capinfos; do
	command -v "$t" >/dev/null || need+=(tshark)
done
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
command -v awk >/dev/null || need+=(gawk)
if [ ${#need[@]} -gt 0 ]; then
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	apt_install "${need[@]}"
fi
for t in tshark dumpcap editcap mergecap capinfos python3; do
	command -v "$t" >/dev/null || die "$t is missing after installing it"
done

if [ ! -x "$HOPTAP" ]; then
	note "building $HOPTAP"
	go build -o "$HOPTAP" ./cmd/hoptap || die "cannot build hoptap"
fi

# ghz and the interop server are needed only to record.
need_recorders() {
	if [ ! -x "$TOOLS/ghz" ]; then
		note "installing ghz into $TOOLS"
		mkdir -p "$TOOLS"
		GOFLAGS= GOBIN="$TOOLS" go install github.com/bojand/ghz/cmd/ghz@latest || die "cannot install ghz"
	fi
	if [ ! -x "$TOOLS/interop-server" ]; then
		./scripts/deps.sh || die "cannot install the grpc-go interop server"
	fi
	[ "$(id -u)" = 0 ] || die "recording on loopback needs root (or a capture in $BENCH_DIR already)"
}

# --- helpers ---------------------------------------------------------------

# port_closed PORT: true when nothing accepts connections on it.
port_closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port nobody listens on, below the ephemeral range so that no
# client picks it while we use it.
free_port() {
	local p i
	for i in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		if port_closed "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# has_rst FILE PORT: FILE already holds a reset sent from PORT. tshark may
# complain about a record still being written; what it printed counts.
has_rst() {
	local n
	n=$(tshark -r "$1" -n -Y "tcp.srcport == $2 && tcp.flags.reset == 1" -T fields -e frame.number 2>/dev/null | grep -c . || true)
	[ "${n:-0}" -gt 0 ]
}

# --- recording -------------------------------------------------------------

cap1=$BENCH_DIR/unary-$CALLS.pcapng
meta=$BENCH_DIR/unary-$CALLS.env
cap4=$BENCH_DIR/unary-$CALLS-x4.pcapng
cap4reuse=$BENCH_DIR/unary-$CALLS-x4-reuse.pcapng

record() {
	need_recorders
	mkdir -p "$BENCH_DIR"
	rm -f "$cap1" "$meta" "$cap4" "$cap4reuse"
	local rec=$work/rec
	mkdir -p "$rec"
	cp "$here/scripts/testservice.proto" "$rec/bench.proto"
	local port marker body i
	port=$(free_port)
	marker=$(free_port)
	while [ "$marker" = "$port" ]; do marker=$(free_port); done
	body=$(head -c "$PAYLOAD" /dev/zero | tr '\0' 'x' | base64 -w0)

	"$TOOLS/interop-server" -port="$port" -use_tls=false >"$rec/server.log" 2>&1 &
	local server=$!
	pids+=("$server")
	for i in $(seq 200); do
		port_closed "$port" || break
		kill -0 "$server" 2>/dev/null || die "interop server exited: $(cat "$rec/server.log")"
		sleep 0.1
	done
	port_closed "$port" && die "interop server does not listen on $port"

	dumpcap -q -i lo -B 64 -f "tcp port $port or tcp port $marker" -w "$rec/capture.pcapng" 2>"$rec/dumpcap.log" &
	local dc=$!
	pids+=("$dc")
	for i in $(seq 200); do
		grep -q "^Capturing on" "$rec/dumpcap.log" && break
		kill -0 "$dc" 2>/dev/null || die "dumpcap exited: $(cat "$rec/dumpcap.log")"
		sleep 0.1
	done
	grep -q "^Capturing on" "$rec/dumpcap.log" || die "dumpcap did not start: $(cat "$rec/dumpcap.log")"

	note "recording $CALLS unary calls (ghz, concurrency $CONC over $CONNS connections, $PAYLOAD-byte payloads) to 127.0.0.1:$port"
	"$TOOLS/ghz" --insecure --proto "$rec/bench.proto" --import-paths "$rec" \
		--call grpc.testing.TestService/UnaryCall -n "$CALLS" -c "$CONC" --connections "$CONNS" \
		-d "{\"response_size\":$PAYLOAD,\"payload\":{\"body\":\"$body\"}}" \
		-O json "127.0.0.1:$port" >"$rec/ghz.json" 2>"$rec/ghz.log" || die "ghz failed: $(cat "$rec/ghz.log")"
	local ok
	ok=$(grep -o '"statusCodeDistribution":{[^}]*}' "$rec/ghz.json" | grep -o '"OK":[0-9]*' | cut -d: -f2 || true)
	[ "${ok:-0}" = "$CALLS" ] || die "ghz: ${ok:-0} of $CALLS calls were OK: $(grep -o '"statusCodeDistribution":{[^}]*}' "$rec/ghz.json" || cat "$rec/ghz.log")"

	# The end marker: a connection attempt to a closed port inside the
	# filter. Packets reach dumpcap in order, so once its reset is in the
	# file, so is every packet of the calls.
	port_closed "$marker" || true
	for i in $(seq 120); do
		has_rst "$rec/capture.pcapng" "$marker" && break
		kill -0 "$dc" 2>/dev/null || die "dumpcap exited early: $(cat "$rec/dumpcap.log")"
		sleep 0.5
	done
	has_rst "$rec/capture.pcapng" "$marker" || die "the capture never showed its end marker (reset from port $marker)"
	kill -INT "$dc"
	wait "$dc" || true
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	pids=()

	# dumpcap: "Packets received/dropped on interface 'lo': 16164/0 (...)".
	local stats dropped
	stats=$(grep "received/dropped" "$rec/dumpcap.log" || true)
	[ -n "$stats" ] || die "dumpcap printed no statistics: $(cat "$rec/dumpcap.log")"
	dropped=$(sed -E 's/.*: *[0-9]+\/([0-9]+) .*/\1/' <<<"$stats")
	[ "$dropped" = 0 ] || die "dumpcap dropped $dropped packets ($stats): run again"

	local rps
	rps=$(grep -o '"rps":[0-9.]*' "$rec/ghz.json" | head -1 | cut -d: -f2)
	{
		echo "PORT=$port"
		echo "CALLS=$CALLS"
		echo "CONCURRENCY=$CONC"
		echo "CONNECTIONS=$CONNS"
		echo "PAYLOAD=$PAYLOAD"
		echo "GHZ_RPS=${rps%.*}"
		echo "RECORDED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$meta.tmp"
	mv "$rec/capture.pcapng" "$cap1.tmp"
	mv "$meta.tmp" "$meta"
	mv "$cap1.tmp" "$cap1"
	note "recorded $cap1 ($(du -h "$cap1" | cut -f1), $stats)"
}

if [ -n "${BENCH_RERECORD:-}" ] || [ ! -s "$cap1" ] || [ ! -s "$meta" ]; then
	record
else
	note "reusing $cap1 (BENCH_RERECORD=1 records it again)"
fi
PORT=$(grep '^PORT=' "$meta" | cut -d= -f2)
[[ $PORT =~ ^[0-9]+$ ]] || die "$meta names no server port"

# --- the 4x files ----------------------------------------------------------

# readdress IN OUT K: rewrite every 127.x.y.z address to 127.x.(y+K).z,
# fixing the IPv4 header checksum and adjusting the TCP/UDP checksum.
readdress() {
	python3 - "$@" <<-'PY'
		import struct, sys
		src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
		buf = bytearray(open(src, "rb").read())
		IP_OFF = {1: 14, 113: 16, 276: 20, 0: 4, 12: 0, 14: 0, 101: 0, 228: 0}

		def csum16(b):
		    s = 0
		    for i in range(0, len(b), 2):
		        s += (b[i] << 8) | (b[i + 1] if i + 1 < len(b) else 0)
		    while s >> 16:
		        s = (s & 0xFFFF) + (s >> 16)
		    return s

		def patch(p, caplen, lt):
		    o = IP_OFF.get(lt)
		    if o is None:
		        return 0
		    if lt == 1 and caplen >= 14 and buf[p + 12:p + 14] != b"\x08\x00":
		        return 0
		    ip = p + o
		    if caplen < o + 20 or buf[ip] >> 4 != 4:
		        return 0
		    ihl = (buf[ip] & 15) * 4
		    old = bytes(buf[ip + 12:ip + 20])
		    for a in (ip + 12, ip + 16):
		        if buf[a] == 127:
		            buf[a + 2] = (buf[a + 2] + k) & 0xFF
		    new = bytes(buf[ip + 12:ip + 20])
		    if old == new:
		        return 0
		    if caplen >= o + ihl:
		        buf[ip + 10:ip + 12] = b"\0\0"
		        struct.pack_into(">H", buf, ip + 10, ~csum16(buf[ip:ip + ihl]) & 0xFFFF)
		    proto, frag = buf[ip + 9], struct.unpack_from(">H", buf, ip + 6)[0] & 0x1FFF
		    cs = {6: 16, 17: 6}.get(proto)
		    l4 = ip + ihl
		    if cs is not None and frag == 0 and caplen >= o + ihl + cs + 2:
		        # RFC 1624: HC' = ~(~HC + ~m + m') over the changed words.
		        hc = struct.unpack_from(">H", buf, l4 + cs)[0]
		        if not (proto == 17 and hc == 0):
		            s = ~hc & 0xFFFF
		            for i in range(0, 8, 2):
		                m, m2 = (old[i] << 8) | old[i + 1], (new[i] << 8) | new[i + 1]
		                s += (~m & 0xFFFF) + m2
		            while s >> 16:
		                s = (s & 0xFFFF) + (s >> 16)
		            struct.pack_into(">H", buf, l4 + cs, ~s & 0xFFFF)
		    return 1

		off, end, linktypes, n = 0, len(buf), [], 0
		endian = "<"
		if buf[:4] != b"\x0a\x0d\x0d\x0a":
		    sys.exit("not a pcapng file: " + src)
		while off + 12 <= end:
		    if buf[off:off + 4] == b"\x0a\x0d\x0d\x0a":
		        endian = "<" if buf[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
		        linktypes = []
		    btype, blen = struct.unpack_from(endian + "II", buf, off)
		    if blen < 12 or off + blen > end:
		        sys.exit("%s: bad block at offset %d" % (src, off))
		    if btype == 1:
		        linktypes.append(struct.unpack_from(endian + "H", buf, off + 8)[0])
		    elif btype == 6:
		        ifid, _, _, caplen = struct.unpack_from(endian + "IIII", buf, off + 8)
		        n += patch(off + 28, caplen, linktypes[ifid])
		    elif btype == 3:
		        n += patch(off + 12, blen - 16, linktypes[0])
		    off += blen
		open(dst, "wb").write(buf)
		print(n)
	PY
}

if [ ! -s "$cap4" ] || [ ! -s "$cap4reuse" ] || [ "$cap1" -nt "$cap4" ] || [ "$cap1" -nt "$cap4reuse" ]; then
	note "building the 4x files"
	first=$(capinfos -T -r -a "$cap1" | awk -F'\t' '{print $2}')
	last=$(capinfos -T -r -e "$cap1" | awk -F'\t' '{print $2}')
	shift_s=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%d", b - a + 2 }')
	copies=("$cap1")
	reuse=("$cap1")
	for k in 1 2 3; do
		editcap -t $((k * shift_s)) "$cap1" "$work/shift$k.pcapng" || die "editcap failed"
		reuse+=("$work/shift$k.pcapng")
		n=$(readdress "$work/shift$k.pcapng" "$work/copy$k.pcapng" "$k") || die "cannot rewrite the addresses of copy $k"
		[ "$n" -gt 0 ] || die "copy $k: no IPv4 loopback packet to rewrite"
		copies+=("$work/copy$k.pcapng")
	done
	mergecap -a -w "$cap4.tmp" "${copies[@]}" || die "mergecap failed"
	mergecap -a -w "$cap4reuse.tmp" "${reuse[@]}" || die "mergecap failed"
	mv "$cap4.tmp" "$cap4"
	mv "$cap4reuse.tmp" "$cap4reuse"
	rm -f "$work"/shift*.pcapng "$work"/copy*.pcapng
fi

# --- measuring -------------------------------------------------------------

# tshark's job: every HTTP/2 header block's :path, header names and values
# (grpc-status among them), which makes it dissect TCP, HTTP/2 and HPACK for
# every call, as hoptap does.
TSHARK_FIELDS=(-T fields -E "aggregator=$(printf '\037')" -e tcp.stream -e http2.streamid
	-e http2.headers.path -e http2.header.name -e http2.header.value)
tshark_job() { tshark -r "$1" -n -d "tcp.port==$PORT,http2" "${TSHARK_FIELDS[@]}"; }
hoptap_job() { "$HOPTAP" read -o json "$1"; }

# count_hoptap JSONL: "calls calls_with_method_and_status"
count_hoptap() {
	awk '/"kind":"call"/ { n++; if ($0 ~ /"method":"\// && $0 ~ /"grpc_status":[0-9]/) k++ }
		END { printf "%d %d\n", n, k }' "$1"
}
# count_tshark FIELDS: "requests_with_path grpc_status_headers"
count_tshark() {
	awk -F'\t' '{
		if ($3 != "") p += split($3, a, "\x1f")
		m = split($4, b, "\x1f")
		for (i = 1; i <= m; i++) if (b[i] == "grpc-status") s++
	} END { printf "%d %d\n", p, s }' "$1"
}

# timed NAME CMD...: one run, output to /dev/null; appends "seconds rss_kb"
# to $work/NAME.
timed() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	/usr/bin/time -f '%M %x' -o "$work/rusage" "$@" >/dev/null 2>>"$work/$name.stderr" || true
	t1=$(date +%s%N)
	# time(1) puts "Command exited with non-zero status N" first on failure.
	read -r rss rc < <(tail -1 "$work/rusage") || die "no rusage for $name"
	[ "$rc" = 0 ] || die "$name exited with status $rc: $(tail -3 "$work/$name.stderr")"
	echo "$(((t1 - t0) / 1000)) $rss" >>"$work/$name"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -1; }

declare -A R # results by key

bench() { # LABEL FILE EXPECTED_CALLS
	local label=$1 file=$2 want=$3
	note "$label: counting calls (untimed run of each tool)"
	hoptap_job "$file" >"$work/hoptap.out" 2>"$work/hoptap.log" || die "hoptap read failed on $file: $(tail -3 "$work/hoptap.log")"
	tshark_job "$file" >"$work/tshark.out" 2>"$work/tshark.log" || die "tshark failed on $file: $(tail -3 "$work/tshark.log")"
	read -r R[$label.h.calls] R[$label.h.full] < <(count_hoptap "$work/hoptap.out")
	read -r R[$label.t.paths] R[$label.t.status] < <(count_tshark "$work/tshark.out")
	R[$label.h.summary]=$(grep -E '^[0-9]+ packets' "$work/hoptap.log" | tail -1 || true)
	R[$label.h.losses]=$(grep -E '^losses:' "$work/hoptap.log" | tail -1 || true)
	R[$label.want]=$want
	R[$label.size]=$(stat -c %s "$file")
	rm -f "$work/hoptap.out" "$work/tshark.out" "$work/h.$label" "$work/t.$label"
	note "$label: $RUNS timed runs of each, alternating"
	local i
	for i in $(seq "$RUNS"); do
		timed "h.$label" "$HOPTAP" read -o json "$file"
		timed "t.$label" tshark -r "$file" -n -d "tcp.port==$PORT,http2" "${TSHARK_FIELDS[@]}"
	done
	local who
	for who in h t; do
		R[$label.$who.med]=$(cut -d' ' -f1 "$work/$who.$label" | median)
		R[$label.$who.min]=$(cut -d' ' -f1 "$work/$who.$label" | minimum)
		R[$label.$who.rss]=$(cut -d' ' -f2 "$work/$who.$label" | median)
	done
}

bench 1x "$cap1" "$CALLS"
bench 4x "$cap4" $((4 * CALLS))

note "4x with reused 4-tuples: counting calls"
hoptap_job "$cap4reuse" >"$work/hoptap.out" 2>"$work/hoptap.log" || die "hoptap read failed on $cap4reuse"
read -r reuse_h reuse_hfull < <(count_hoptap "$work/hoptap.out")
tshark_job "$cap4reuse" >"$work/tshark.out" 2>/dev/null || die "tshark failed on $cap4reuse"
read -r reuse_t reuse_tstatus < <(count_tshark "$work/tshark.out")
rm -f "$work/hoptap.out" "$work/tshark.out"

# --- report ----------------------------------------------------------------

f() { awk -v x="$1" -v d="${2:-2}" 'BEGIN { printf "%.*f", d, x }'; }
secs() { f "$(awk -v u="$1" 'BEGIN { print u / 1e6 }')" 3; }
rate() { awk -v n="$1" -v u="$2" 'BEGIN { printf "%d", n / (u / 1e6) }'; }
mib() { f "$(awk -v k="$1" 'BEGIN { print k / 1024 }')" 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { # "expr" -> MET / NOT MET
	if awk "BEGIN { exit !($1) }"; then echo "MET"; else echo "NOT MET"; fi
}

echo
echo "== bench-read: hoptap read -o json vs tshark, $CALLS unary calls =="
echo "capture: $cap1 ($(grep -E '^(CONCURRENCY|CONNECTIONS|PAYLOAD|GHZ_RPS|RECORDED)=' "$meta" | tr '\n' ' '))"
echo "hoptap:  $HOPTAP read -o json FILE > /dev/null"
echo "tshark:  tshark -r FILE -n -d tcp.port==$PORT,http2 -T fields -E aggregator=\\x1f -e tcp.stream -e http2.streamid"
echo "           -e http2.headers.path -e http2.header.name -e http2.header.value > /dev/null"
echo "         ($(tshark --version 2>/dev/null | head -1))"
echo "times: median of $RUNS runs (min in brackets), wall clock; RSS: median peak resident set (/usr/bin/time)"
echo
printf '%-4s %8s %7s | %-22s %10s %8s | %-22s %10s %8s | %7s\n' \
	file MiB calls "hoptap s" calls/s "RSS MiB" "tshark s" calls/s "RSS MiB" "tshark/hoptap"
for l in 1x 4x; do
	printf '%-4s %8s %7s | %-22s %10s %8s | %-22s %10s %8s | %6sx\n' \
		"$l" "$(mib $((R[$l.size] / 1024)))" "${R[$l.want]}" \
		"$(secs "${R[$l.h.med]}") ($(secs "${R[$l.h.min]}"))" "$(rate "${R[$l.want]}" "${R[$l.h.med]}")" "$(mib "${R[$l.h.rss]}")" \
		"$(secs "${R[$l.t.med]}") ($(secs "${R[$l.t.min]}"))" "$(rate "${R[$l.want]}" "${R[$l.t.med]}")" "$(mib "${R[$l.t.rss]}")" \
		"$(ratio "${R[$l.t.med]}" "${R[$l.h.med]}")"
done
echo
echo "calls decoded (expected: 1x $CALLS, 4x $((4 * CALLS))):"
for l in 1x 4x; do
	echo "  $l  hoptap: ${R[$l.h.calls]} calls, ${R[$l.h.full]} with method and grpc_status | tshark: ${R[$l.t.paths]} :path, ${R[$l.t.status]} grpc-status"
	echo "      hoptap summary: ${R[$l.h.summary]}${R[$l.h.losses]:+; ${R[$l.h.losses]}}"
done
echo "  4x, copies on the same addresses, ports and sequence numbers (connections reusing a 4-tuple):"
echo "      hoptap: $reuse_h calls, $reuse_hfull with method and grpc_status | tshark: $reuse_t :path, $reuse_tstatus grpc-status"
echo
h_rate1=$(awk -v n="${R[1x.want]}" -v u="${R[1x.h.med]}" 'BEGIN { print n / u }')
h_rate4=$(awk -v n="${R[4x.want]}" -v u="${R[4x.h.med]}" 'BEGIN { print n / u }')
t_rate1=$(awk -v n="${R[1x.want]}" -v u="${R[1x.t.med]}" 'BEGIN { print n / u }')
t_rate4=$(awk -v n="${R[4x.want]}" -v u="${R[4x.t.med]}" 'BEGIN { print n / u }')
echo "growth 1x -> 4x:"
echo "  hoptap: time x$(ratio "${R[4x.h.med]}" "${R[1x.h.med]}"), calls/s x$(ratio "$h_rate4" "$h_rate1"), peak RSS x$(ratio "${R[4x.h.rss]}" "${R[1x.h.rss]}") ($(mib "${R[1x.h.rss]}") -> $(mib "${R[4x.h.rss]}") MiB)"
echo "  tshark: time x$(ratio "${R[4x.t.med]}" "${R[1x.t.med]}"), calls/s x$(ratio "$t_rate4" "$t_rate1"), peak RSS x$(ratio "${R[4x.t.rss]}" "${R[1x.t.rss]}") ($(mib "${R[1x.t.rss]}") -> $(mib "${R[4x.t.rss]}") MiB)"
echo
echo "targets:"
for l in 1x 4x; do
	r=$(ratio "${R[$l.t.med]}" "${R[$l.h.med]}")
	printf '  %-58s %-22s %s\n' "speed at $l: tshark time / hoptap time >= ${SPEED_TARGET}x" "measured ${r}x" "$(verdict "$r >= $SPEED_TARGET")"
done
r=$(ratio "${R[4x.h.rss]}" "${R[1x.h.rss]}")
printf '  %-58s %-22s %s\n' "flat memory: hoptap peak RSS 4x / 1x <= $RSS_FLAT_TARGET" "measured ${r}" "$(verdict "$r <= $RSS_FLAT_TARGET")"
r=$(ratio "$h_rate4" "$h_rate1")
printf '  %-58s %-22s %s\n' "linear time: hoptap calls/s 4x / 1x >= $LINEAR_TARGET" "measured ${r}" "$(verdict "$r >= $LINEAR_TARGET")"
for l in 1x 4x; do
	printf '  %-58s %-22s %s\n' "every call decoded at $l: hoptap calls with method+status" "${R[$l.h.full]} of ${R[$l.want]}" \
		"$(verdict "${R[$l.h.full]} == ${R[$l.want]} && ${R[$l.h.calls]} == ${R[$l.want]}")"
done
printf '  %-58s %-22s %s\n' "every call decoded, 4x on reused 4-tuples: hoptap" "$reuse_hfull of $((4 * CALLS))" \
	"$(verdict "$reuse_hfull == 4 * $CALLS && $reuse_h == 4 * $CALLS")"
for l in 1x 4x; do
	if [ "${R[$l.t.paths]}" != "${R[$l.want]}" ] || [ "${R[$l.t.status]}" != "${R[$l.want]}" ]; then
		echo "  note: at $l tshark saw ${R[$l.t.paths]} :path and ${R[$l.t.status]} grpc-status for ${R[$l.want]} calls: its time is for a different job"
	fi
done
if [ "$reuse_t" != $((4 * CALLS)) ]; then
	echo "  note: on reused 4-tuples tshark sees $reuse_t of $((4 * CALLS)) requests (it takes a SYN with the same sequence number for a retransmission);"
	echo "        that is why the timed 4x file puts each copy on its own addresses"
fi
