#!/usr/bin/env bash
# bench-capture: what live capture costs the traffic it watches. ghz calls
# the grpc-go interop server across a bridge between two network
# namespaces (as two pods on one node), alternating capture off and on in
# the same run, at saturation and at a fixed rate. "On" is
# `hoptap capture -o json --port P > /dev/null`: every packet copied by
# the kernel, decoded and rendered.
#
# Printed per mode and side by side: calls/s, p50 and p99 latency and
# their on/off ratios; the capture's CPU per 1,000 calls; events/s and
# lost events. Each figure is the median of the rounds. Targets are
# printed as MET / NOT MET; the script fails only on real errors.
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_SAT_CALLS (20000 calls
# per saturation run), BENCH_CONCURRENCY (50), BENCH_CONNECTIONS (10),
# BENCH_RATE (fixed rate in calls/s; default half the first saturation
# run's rate), BENCH_RATE_SECONDS (8), BENCH_CAPTURE_ARGS (the capture's
# output flags, default "-o json"), HOPTAP (default bin/hoptap).
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
CAPTURE_ARGS=${BENCH_CAPTURE_ARGS:--o json}
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

# with_capture OUT CMD...: run CMD under a live capture; the capture's
# summary goes to OUT.capture.
with_capture() {
	local out=$1
	shift
	# shellcheck disable=SC2086
	"$HOPTAP" capture $CAPTURE_ARGS --port $port ${BENCH_PROFILE:+--cpuprofile "$BENCH_PROFILE"} >/dev/null 2>"$out.capture" &
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

run_mode() { # run_mode KIND ROUND on|off
	local kind=$1 round=$2 cap=$3 out="$work/$1-$2-$3.json" args
	if [ "$kind" = sat ]; then
		args=(-n "$SAT_CALLS")
	else
		args=(--rps "$RATE" -n $((RATE * RATE_SECS)))
	fi
	if [ "$cap" = on ]; then
		with_capture "$out" ghz_run "$out" "${args[@]}"
	else
		ghz_run "$out" "${args[@]}"
	fi
}

note "warming up"
ghz_run "$work/warm.json" -n 2000
if [ -z "$RATE" ]; then
	ghz_run "$work/probe.json" -n "$SAT_CALLS"
	RATE=$(python3 -c "import json;print(max(100,int(json.load(open('$work/probe.json'))['rps']*0.5)))")
fi
note "capture: hoptap capture $CAPTURE_ARGS --port $port > /dev/null"
note "$ROUNDS rounds; saturation: $SAT_CALLS calls, concurrency $CONC over $CONNS connections; fixed rate: $RATE calls/s for ${RATE_SECS}s"
for r in $(seq "$ROUNDS"); do
	# Alternate which goes first, so drift does not favour one side.
	if [ $((r % 2)) = 1 ]; then order="off on"; else order="on off"; fi
	for cap in $order; do
		note "round $r: saturation, capture $cap"
		run_mode sat "$r" "$cap"
		note "round $r: fixed rate, capture $cap"
		run_mode rate "$r" "$cap"
	done
done

python3 - "$work" "$ROUNDS" "$RATE" <<'EOF'
import json, re, statistics, sys
work, rounds, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def ghz(kind, r, cap):
    d = json.load(open(f"{work}/{kind}-{r}-{cap}.json"))
    lat = {x["percentage"]: x["latency"] / 1e6 for x in d.get("latencyDistribution") or []}
    ok = d.get("statusCodeDistribution", {}).get("OK", 0)
    return {"rps": d["rps"], "p50": lat.get(50, 0), "p99": lat.get(99, 0), "calls": d["count"], "ok": ok,
            "errors": d.get("errorDistribution") or {}}

def capture(kind, r):
    text = open(f"{work}/{kind}-{r}-on.json.capture").read()
    m = re.search(r"capture: (\d+) packets in ([\d.]+)(ms|s|m)?.*?(\d+) calls, (\d+) lost events, \d+ TCP gaps, cpu ([\d.]+)(µs|ms|s)", text)
    k = re.search(r"kernel: (\d+) packets copied, (\d+) lost", text)
    if not m or not k:
        sys.exit("bench-capture: cannot read the capture summary:\n" + text)
    scale = {"ms": 1e-3, "s": 1, "m": 60, None: 1}
    elapsed = float(m.group(2)) * scale[m.group(3)]
    cpu = float(m.group(6)) * {"µs": 1e-6, "ms": 1e-3, "s": 1}[m.group(7)]
    return {"events": int(k.group(1)), "lost": int(k.group(2)) + int(m.group(5)), "calls": int(m.group(4)),
            "cpu": cpu, "elapsed": elapsed}

med = statistics.median
print()
print(f"{'mode':<18} {'capture':<8} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} | {'cpu ms/1k calls':>15} {'events/s':>9} {'lost':>5}")
res = {}
errors = []
for kind, label in (("sat", "saturation"), ("rate", f"fixed {rate}/s")):
    for cap in ("off", "on"):
        g = [ghz(kind, r, cap) for r in range(1, rounds + 1)]
        row = {x: med([y[x] for y in g]) for x in ("rps", "p50", "p99")}
        row["failed"] = sum(y["calls"] - y["ok"] for y in g)
        for y in g:
            for e, n in y["errors"].items():
                errors.append(f"{label}, capture {cap}: {n} x {e}")
        extra = ""
        if cap == "on":
            c = [capture(kind, r) for r in range(1, rounds + 1)]
            row["cpu_per_k"] = med([x["cpu"] * 1e3 / max(1, x["calls"]) * 1000 for x in c])
            row["events_s"] = med([x["events"] / x["elapsed"] for x in c])
            row["lost"] = sum(x["lost"] for x in c)
            row["calls_seen"] = sum(x["calls"] for x in c)
            extra = f"{row['cpu_per_k']:>15.2f} {row['events_s']:>9.0f} {row['lost']:>5}"
        res[(kind, cap)] = row
        print(f"{label:<18} {cap:<8} {row['rps']:>9.0f} {row['p50']:>8.3f} {row['p99']:>8.3f} | {extra}")
print()
sat_loss = 1 - res[("sat", "on")]["rps"] / res[("sat", "off")]["rps"]
p99_inc = res[("rate", "on")]["p99"] / res[("rate", "off")]["p99"] - 1
cpu = max(res[("sat", "on")]["cpu_per_k"], res[("rate", "on")]["cpu_per_k"])
lost = res[("sat", "on")]["lost"] + res[("rate", "on")]["lost"]
failed = sum(r["failed"] for r in res.values())
def verdict(ok): return "MET" if ok else "NOT MET"
print(f"ratios (on/off): saturation calls/s {1 - sat_loss:.3f}, p50 {res[('sat','on')]['p50'] / res[('sat','off')]['p50']:.3f}, p99 {res[('sat','on')]['p99'] / res[('sat','off')]['p99']:.3f}; "
      f"fixed rate p50 {res[('rate','on')]['p50'] / res[('rate','off')]['p50']:.3f}, p99 {1 + p99_inc:.3f}")
print(f"throughput loss at saturation: {sat_loss * 100:6.2f} %   (target <= 2 %)   {verdict(sat_loss <= 0.02)}")
print(f"p99 increase at fixed rate:    {p99_inc * 100:6.2f} %   (target <= 5 %)   {verdict(p99_inc <= 0.05)}")
print(f"capture CPU per 1,000 calls:   {cpu:6.2f} ms  (target <= 5 ms)   {verdict(cpu <= 5)}")
print(f"lost events:                   {lost:6d}     (target 0)        {verdict(lost == 0)}")
print(f"failed calls (all runs):       {failed:6d}")
for e in errors:
    print("  " + e)
EOF
