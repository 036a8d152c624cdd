#!/usr/bin/env bash
# bench-agent: what the node agent costs. ghz calls the grpc-go interop
# server across a bridge between two network namespaces (two pods on one
# node) at a fixed rate, in rounds: under hoptap-agent, under
# `hoptap capture --calls` (the reference: calls decoded once, printed,
# no metrics), and under the agent with one end of each connection here
# (below). Then the agent watches idle HTTP/2 connections being opened
# and held.
#
# Printed: agent and reference CPU per 1,000 calls and their ratio, lost
# events; the agent's RSS with no connections and with N idle ones, per
# 1,000 idle connections, and its CPU while they idle. Then the same
# with one end of each connection on this node: the client runs in a
# cgroup of its own and the agent selects only that cgroup in the
# kernel, as if the server were on another node (one view per
# connection instead of two). Targets as MET / NOT MET (for both ends
# here, and for one); the script fails only on real errors.
#
# Settings (environment): BENCH_RATE (calls/s, 4000), BENCH_SECONDS (10),
# BENCH_ROUNDS (load rounds, 3: medians are reported), BENCH_IDLE (idle
# connections, 10000), HOPTAP and HOPTAP_AGENT.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
RATE=${BENCH_RATE:-4000}
SECS=${BENCH_SECONDS:-10}
IDLE=${BENCH_IDLE:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
HOPTAP=${HOPTAP:-$here/bin/hoptap}
AGENT=${HOPTAP_AGENT:-$here/bin/hoptap-agent}
TOOLS=$here/.tools/bin
export PATH="$TOOLS:$PATH:/usr/sbin:/sbin"

prog=bench-agent
# shellcheck source=scripts/bench.sh
. "$here/scripts/bench.sh"
bench_preflight "$AGENT" "$HOPTAP"
go build -o "$TOOLS/idleconns" ./scripts/idleconns || die "cannot build scripts/idleconns"

work=$(mktemp -d /tmp/bench-agent.XXXXXX)
port=10000
# shellcheck source=scripts/testbed.sh
. "$here/scripts/testbed.sh"
# The client's own cgroup (v2), for the one-end runs.
v2root=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
[ -n "$v2root" ] || die "no cgroup v2 mount"
cgname=hoptap-bench-client-$$
cg=$v2root/$cgname
trap 'testbed_down; rmdir "$cg" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$cg" || die "cannot make cgroup $cg"
testbed_up || die "cannot start the testbed"
maddr=127.0.0.1:$((20000 + $$ % 20000))

# start_agent [ARGS]: the agent on this testbed's traffic, ready.
start_agent() {
	"$AGENT" --host "$subnet" --port "$port" --metrics-addr "$maddr" "$@" 2>"$work/agent.log" &
	agent=$!
	pids+=("$agent")
	for _ in $(seq 200); do
		curl -sf "http://$maddr/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$agent" 2>/dev/null || die "agent exited: $(cat "$work/agent.log")"
		sleep 0.05
	done
	die "agent not ready: $(cat "$work/agent.log")"
}

stop() { # stop PID
	kill -INT "$1"
	wait "$1" || die "process $1 failed"
}

metric() { # metric NAME: the sum of a metric's samples from the agent
	curl -sf "http://$maddr/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%d", s}'
}

counted() { # counted WANT: call views counted, once WANT are or after 3 s (the last batch's views come at the next read)
	local n
	for _ in $(seq 30); do
		n=$(metric hoptap_rpc_call_duration_seconds_count)
		[ "$n" -ge "$1" ] && break
		sleep 0.1
	done
	echo "$n"
}

calls=$((RATE * SECS))
note "warming up"
ghz_run "$work/warm.json" -n 2000 || die "ghz failed"
steal_start

# One round: the agent, the reference and the agent on one end, each
# under the same load; CPU in clock ticks. The rounds' medians are
# reported: this shared machine's speed drifts within minutes.
agent_ticks=() ref_ticks=() one_ticks=()
lost=0 seen=0 onelost=0 oneseen=0
for round in $(seq "$ROUNDS"); do
	note "round $round/$ROUNDS: agent, $RATE calls/s for ${SECS}s"
	start_agent
	t0=$(cpu_ticks "$agent")
	ghz_run "$work/agent.json" --rps "$RATE" -n "$calls" || die "ghz failed"
	t1=$(cpu_ticks "$agent")
	agent_ticks+=($((t1 - t0)))
	lost=$((lost + $(metric hoptap_lost_events_total)))
	seen=$((seen + $(counted $((2 * calls)))))
	stop "$agent"

	note "round $round/$ROUNDS: reference, hoptap capture --calls, same load"
	"$HOPTAP" capture --calls --host "$subnet" --port "$port" >/dev/null 2>"$work/capture.log" &
	cap=$!
	pids+=("$cap")
	wait_line "$work/capture.log" "capturing at" "$cap" 200
	c0=$(cpu_ticks "$cap")
	ghz_run "$work/capture.json" --rps "$RATE" -n "$calls" || die "ghz failed"
	c1=$(cpu_ticks "$cap")
	ref_ticks+=($((c1 - c0)))
	stop "$cap"

	note "round $round/$ROUNDS: one end here, the agent on the client's cgroup only"
	start_agent --cgroup "/$cgname"
	o0=$(cpu_ticks "$agent")
	(echo "$BASHPID" >"$cg/cgroup.procs" && ghz_run "$work/one.json" --rps "$RATE" -n "$calls") || die "ghz failed"
	o1=$(cpu_ticks "$agent")
	one_ticks+=($((o1 - o0)))
	onelost=$((onelost + $(metric hoptap_lost_events_total)))
	oneseen=$((oneseen + $(counted "$calls")))
	stop "$agent"
done

note "idle: $IDLE HTTP/2 connections opened and held"
start_agent
sleep 2
rss0=$(rss_kib "$agent")
ip netns exec "$ns_cli" bash -c "ulimit -n 65536; exec $TOOLS/idleconns -addr $server:$port -n $IDLE" >"$work/idle.out" 2>"$work/idle.log" &
idle=$!
pids+=("$idle")
wait_line "$work/idle.out" "^open" "$idle" 1200
opened=$(awk '{print $2}' "$work/idle.out")
sleep 6 # connection metrics are held up to 5 s for their labels
i0=$(cpu_ticks "$agent")
sleep 10
i1=$(cpu_ticks "$agent")
rss1=$(rss_kib "$agent")
tracked=$(metric hoptap_tracked_connections)
idlelost=$(metric hoptap_lost_events_total)
stop "$idle"
stop "$agent"

note "one end here: idle connections, the agent on the client's cgroup only"
start_agent --cgroup "/$cgname"
sleep 2
orss0=$(rss_kib "$agent")
# Into the cgroup before entering the namespace (ip netns exec mounts
# its own /sys).
(echo "$BASHPID" >"$cg/cgroup.procs" &&
	exec ip netns exec "$ns_cli" bash -c "ulimit -n 65536; exec $TOOLS/idleconns -addr $server:$port -n $IDLE") >"$work/idle1.out" 2>"$work/idle1.log" &
idle=$!
pids+=("$idle")
wait_line "$work/idle1.out" "^open" "$idle" 1200
sleep 6
orss1=$(rss_kib "$agent")
onetracked=$(metric hoptap_tracked_connections)
onelost=$((onelost + $(metric hoptap_lost_events_total)))
stop "$idle"
stop "$agent"

python3 - "$calls" "${agent_ticks[*]}" "${ref_ticks[*]}" "${one_ticks[*]}" "$lost" "$seen" "$rss0" "$rss1" "$opened" "$i0" "$i1" "$tracked" "$idlelost" "$RATE" \
	"$onelost" "$oneseen" "$orss0" "$orss1" "$onetracked" "$ROUNDS" <<'PY'
import statistics, sys
calls = int(sys.argv[1])
tick = 10.0  # ms per clock tick (USER_HZ 100)
runs = [[t * tick * 1000 / calls for t in map(int, a.split())] for a in sys.argv[2:5]]
(lost, seen, rss0, rss1, opened, i0, i1, tracked, idlelost, rate,
 onelost, oneseen, orss0, orss1, onetracked, rounds) = map(int, sys.argv[5:])
agent, ref, one = (statistics.median(r) for r in runs)
def spread(r): return "  ".join(f"{x:.2f}" for x in r)
def verdict(ok): return "MET" if ok else "NOT MET"
print()
print(f"load: {rate} unary calls/s, {calls} calls per run, client and server in two pods of this node; median of {rounds} rounds (each round's runs)")
print(f"  agent (both sockets' views, metrics)   {agent:6.2f} ms CPU per 1,000 calls   ({spread(runs[0])}; {seen} of {2 * calls * rounds} call views counted, {lost} events lost)")
print(f"  hoptap capture --calls (reference)     {ref:6.2f} ms CPU per 1,000 calls   ({spread(runs[1])})")
print(f"  ratio agent / reference                {agent / ref if ref else float('nan'):6.2f}   (per round: {spread([a / r if r else float('nan') for a, r in zip(runs[0], runs[1])])})")
mib0, mib1 = rss0 / 1024, rss1 / 1024
per_k = (rss1 - rss0) / 1024 / (opened / 1000) if opened else float('nan')
idle_cpu = (i1 - i0) * tick / 10 / (opened / 1000) if opened else float('nan')
print(f"idle: {opened} HTTP/2 connections held open ({tracked} connection views tracked, {idlelost} events lost)")
print(f"  agent RSS  {mib0:6.1f} MiB before, {mib1:6.1f} MiB with them: {per_k:.2f} MiB per 1,000 idle connections")
print(f"  agent CPU while they idle: {idle_cpu:.2f} ms/s per 1,000 idle connections")
one_k = (orss1 - orss0) / 1024 / (opened / 1000) if opened else float('nan')
print(f"one end here (the client's cgroup only, as with the server on another node):")
print(f"  agent (one socket's view, metrics)     {one:6.2f} ms CPU per 1,000 calls   ({spread(runs[2])}; {oneseen} of {calls * rounds} call views counted, {onelost} events lost)")
print(f"  agent RSS  {orss0 / 1024:6.1f} MiB before, {orss1 / 1024:6.1f} MiB with {opened} idle connections ({onetracked} views): {one_k:.2f} MiB per 1,000")
print()
scaled = mib0 + per_k * 10 if opened else float('nan')
oscaled = orss0 / 1024 + one_k * 10 if opened else float('nan')
print(f"  CPU per 1,000 calls, both ends here:  {agent:6.2f} ms   (target <= 5 ms)     {verdict(agent <= 5)}")
print(f"  CPU per 1,000 calls, one end here:    {one:6.2f} ms   (target <= 5 ms)     {verdict(one <= 5)}")
print(f"  RSS at 10,000 idle, both ends here:   {scaled:6.1f} MiB  (target <= 64 MiB)  {verdict(scaled <= 64)}" + ("" if opened == 10000 else f"  (scaled from {opened})"))
print(f"  RSS at 10,000 idle, one end here:     {oscaled:6.1f} MiB  (target <= 64 MiB)  {verdict(oscaled <= 64)}")
print(f"  lost events:                          {lost + idlelost + onelost:6d}      (target 0)          {verdict(lost + idlelost + onelost == 0)}")
PY
steal_report
