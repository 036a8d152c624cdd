#!/usr/bin/env bash
# bench-capture: what live capture costs the traffic it watches. ghz calls
# the grpc-go interop server across a bridge between two network
# namespaces (as two pods on one node), alternating capture off and on in
# the same run, at saturation and at a fixed rate. "On" is
# `hoptap capture --calls --port P > /dev/null` (every packet decoded, a
# line per call) and `hoptap capture -o json ...` (every frame rendered
# as JSON too). The report is scripts/bench-capture-report.py.
#
# Printed per mode and side by side: calls/s, p50 and p99 latency and
# their on/off ratios; the capture's CPU per 1,000 calls; events/s and
# lost events. Each figure is the median of the rounds. Targets are
# printed as MET / NOT MET; the script fails only on real errors.
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_SAT_CALLS (20000 calls
# per saturation run), BENCH_CONCURRENCY (50), BENCH_CONNECTIONS (10),
# BENCH_RATE (fixed rate in calls/s; default half the first saturation
# run's rate), BENCH_RATE_SECONDS (8), BENCH_CAPTURE_ARGS (one capture
# configuration's output flags instead of the two), HOPTAP (default
# bin/hoptap).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
ROUNDS=${BENCH_ROUNDS:-3}
SAT_CALLS=${BENCH_SAT_CALLS:-20000}
CONC=${BENCH_CONCURRENCY:-50}
CONNS=${BENCH_CONNECTIONS:-10}
RATE=${BENCH_RATE:-}
RATE_SECS=${BENCH_RATE_SECONDS:-8}
HOPTAP=${HOPTAP:-$here/bin/hoptap}
TOOLS=$here/.tools/bin
export PATH="$TOOLS:$PATH:/usr/sbin:/sbin"

die() {
	echo "bench-capture: error: $*" >&2
	exit 1
}
note() { echo "bench-capture: $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root: it creates network namespaces and loads BPF programs"
command -v ip >/dev/null || die "ip (iproute2) missing: run make deps"
[ -x "$TOOLS/interop-server" ] || die "interop server missing: run make deps"
[ -x "$HOPTAP" ] || die "$HOPTAP missing: run make build"
if [ ! -x "$TOOLS/ghz" ]; then
	note "installing ghz into $TOOLS"
	GOFLAGS= GOBIN="$TOOLS" go install github.com/bojand/ghz/cmd/ghz@latest || die "cannot install ghz"
fi

work=$(mktemp -d /tmp/bench-capture.XXXXXX)
id=$$
br=hbb$((id % 100000))
ns_srv=$br-srv
ns_cli=$br-cli
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$ns_srv" 2>/dev/null || true
	ip netns del "$ns_cli" 2>/dev/null || true
	ip link del "$br" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Two "pods" on a bridge, in 198.18.0.0/15 (never routed off the machine).
net=198.18.$((200 + id % 50))
ip link add "$br" type bridge
ip addr add "$net.1/24" dev "$br"
ip link set "$br" up
n=2
for ns in "$ns_srv" "$ns_cli"; do
	ip netns add "$ns"
	ip link add "${br}h$n" type veth peer name "${br}p$n"
	ip link set "${br}p$n" netns "$ns"
	ip link set "${br}h$n" master "$br" up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "${br}p$n" name eth0
	ip -n "$ns" addr add "$net.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	n=$((n + 1))
done
server=$net.2
port=10000

ip netns exec "$ns_srv" "$TOOLS/interop-server" -port=$port -use_tls=false >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	ip netns exec "$ns_cli" bash -c "exec 3<>/dev/tcp/$server/$port" 2>/dev/null && break
	sleep 0.1
done

cp "$here/scripts/testservice.proto" "$work/bench.proto"
body=$(head -c 200 /dev/zero | tr '\0' 'x' | base64 -w0)

# ghz_run OUT ARGS...: one ghz run from the client pod.
ghz_run() {
	local out=$1
	shift
	ip netns exec "$ns_cli" "$TOOLS/ghz" --insecure --proto "$work/bench.proto" --import-paths "$work" \
		--call grpc.testing.TestService/UnaryCall -c "$CONC" --connections "$CONNS" \
		-d "{\"response_size\":200,\"payload\":{\"body\":\"$body\"}}" -O json "$@" "$server:$port" >"$out" 2>"$out.log" ||
		die "ghz failed: $(cat "$out.log")"
}

# with_capture OUT ARGS CMD...: run CMD under a live capture with output
# flags ARGS; the capture's summary goes to OUT.capture.
with_capture() {
	local out=$1 args=$2
	shift 2
	# shellcheck disable=SC2086
	"$HOPTAP" capture $args --port $port ${BENCH_PROFILE:+--cpuprofile "$BENCH_PROFILE"} >/dev/null 2>"$out.capture" &
	local cap=$!
	pids+=("$cap")
	for _ in $(seq 100); do
		grep -q "capturing at" "$out.capture" && break
		kill -0 "$cap" 2>/dev/null || die "capture exited: $(cat "$out.capture")"
		sleep 0.05
	done
	"$@"
	kill -INT "$cap"
	wait "$cap" || die "capture failed: $(cat "$out.capture")"
}

# The capture configurations, name=flags: a line per call as it ends, and
# every frame rendered as JSON.
configs=("calls=--calls" "json=-o json")
if [ -n "${BENCH_CAPTURE_ARGS:-}" ]; then configs=("custom=$BENCH_CAPTURE_ARGS"); fi

run_mode() { # run_mode KIND ROUND off|CONFIG
	local kind=$1 round=$2 cap=$3 out="$work/$1-$2-$3.json" args c
	if [ "$kind" = sat ]; then
		args=(-n "$SAT_CALLS")
	else
		args=(--rps "$RATE" -n $((RATE * RATE_SECS)))
	fi
	if [ "$cap" = off ]; then
		ghz_run "$out" "${args[@]}"
		return
	fi
	for c in "${configs[@]}"; do
		if [ "${c%%=*}" = "$cap" ]; then with_capture "$out" "${c#*=}" ghz_run "$out" "${args[@]}"; fi
	done
}

note "warming up"
ghz_run "$work/warm.json" -n 2000
if [ -z "$RATE" ]; then
	ghz_run "$work/probe.json" -n "$SAT_CALLS"
	RATE=$(python3 -c "import json;print(max(100,int(json.load(open('$work/probe.json'))['rps']*0.5)))")
fi
names=(off)
for c in "${configs[@]}"; do
	names+=("${c%%=*}")
	note "capture ${c%%=*}: hoptap capture ${c#*=} --port $port > /dev/null"
done
note "$ROUNDS rounds; saturation: $SAT_CALLS calls, concurrency $CONC over $CONNS connections; fixed rate: $RATE calls/s for ${RATE_SECS}s"
for r in $(seq "$ROUNDS"); do
	# Rotate the order, so drift does not favour one side.
	k=$((r % ${#names[@]}))
	for cap in "${names[@]:$k}" "${names[@]:0:$k}"; do
		note "round $r: saturation, capture $cap"
		run_mode sat "$r" "$cap"
		note "round $r: fixed rate, capture $cap"
		run_mode rate "$r" "$cap"
	done
done

python3 "$here/scripts/bench-capture-report.py" "$work" "$ROUNDS" "$RATE" "${names[@]}"
