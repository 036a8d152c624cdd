#!/usr/bin/env bash
# bench-capture: what live capture costs the traffic it watches. ghz calls
# the grpc-go interop server across a bridge between two network
# namespaces (as two pods on one node), alternating capture off and on in
# the same run, at saturation and at a fixed rate. "On" is
# `hoptap capture --calls --port P > /dev/null` (every packet decoded, a
# line per call), `hoptap capture -o text ...` (the default: a line per
# frame), `hoptap capture -o json ...` (every frame rendered as JSON), and,
# for reference, `-o json --background=false` (at niceness 10
# throughout, not in the background). The report is
# scripts/bench-capture-report.py.
#
# Printed per mode and side by side: calls/s, p50 and p99 latency; the
# capture's CPU per 1,000 calls; events/s and lost events; each the
# median of the rounds. The on/off ratios are worked out per round, each
# capture run against the two capture-off runs just before and after it
# (this shared VM's speed drifts by tens of percent within minutes, more
# than the effect measured), and their median is held to the targets.
# Targets are printed as MET / NOT MET, each median with its
# distribution-free confidence interval (and a word when it spans the
# target); the capture-off runs are put to the same test against each
# other (A/A), which shows the noise. The script fails only on real
# errors.
#
# A saturation run is long (60,000 calls, some seconds): longer than the
# ring buffer can hold the traffic's events, so that a capture cannot
# look cheap by catching up after the traffic ends.
#
# The fixed rate's p99 is the noisiest figure (runs of the same thing
# differ by tens of percent here), so each round measures it
# BENCH_RATE_REPEATS times, each a round of its own in the report.
#
# Then the alternating part (scripts/bench-alternate.py), on which the
# throughput and p99 targets are judged: for each capture configuration
# one capture stays up through BENCH_ALTERNATE_RUNS ghz runs of
# BENCH_ALTERNATE_RUN_SECONDS each (at saturation, then at the fixed
# rate), its programs in the traffic's path detached and attached by turns
# of BENCH_ALTERNATE seconds (hoptap capture --alternate, reading the
# ring every 250 ms as on a terminal). Each "on" turn is held against
# the two "off" turns beside it: a second from the next differs here by
# a few percent, runs minutes apart by tens. BENCH_ALTERNATE=0 leaves
# this part out.
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_RATE_REPEATS (1),
# BENCH_SAT_CALLS (60000 calls per saturation run), BENCH_CONCURRENCY
# (50), BENCH_CONNECTIONS (10), BENCH_RATE (fixed rate in calls/s;
# default half the first saturation run's rate), BENCH_RATE_SECONDS (5),
# BENCH_CAPTURE_ARGS (one capture configuration's output flags instead
# of the four), BENCH_ALTERNATE (1), BENCH_ALTERNATE_RUNS (6),
# BENCH_ALTERNATE_RUN_SECONDS (20), HOPTAP (default bin/hoptap).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
ROUNDS=${BENCH_ROUNDS:-3}
REPEATS=${BENCH_RATE_REPEATS:-1}
SAT_CALLS=${BENCH_SAT_CALLS:-60000}
CONC=${BENCH_CONCURRENCY:-50}
CONNS=${BENCH_CONNECTIONS:-10}
RATE=${BENCH_RATE:-}
RATE_SECS=${BENCH_RATE_SECONDS:-5}
ALT=${BENCH_ALTERNATE:-1}
ALT_RUNS=${BENCH_ALTERNATE_RUNS:-6}
ALT_SECS=${BENCH_ALTERNATE_RUN_SECONDS:-20}
HOPTAP=${HOPTAP:-$here/bin/hoptap}
TOOLS=$here/.tools/bin
export PATH="$TOOLS:$PATH:/usr/sbin:/sbin"

prog=bench-capture
# shellcheck source=scripts/bench.sh
. "$here/scripts/bench.sh"
bench_preflight "$HOPTAP"

work=$(mktemp -d /tmp/bench-capture.XXXXXX)
port=10000
# shellcheck source=scripts/testbed.sh
. "$here/scripts/testbed.sh"
trap 'testbed_down; rm -rf "$work"' EXIT
testbed_up || die "cannot start the testbed"

# with_capture OUT ARGS CMD...: run CMD under a live capture with output
# flags ARGS; the capture's summary goes to OUT.capture.
with_capture() {
	local out=$1 args=$2
	shift 2
	# shellcheck disable=SC2086
	"$HOPTAP" capture $args --port $port --bpf-stats ${BENCH_PROFILE:+--cpuprofile "$BENCH_PROFILE"} >/dev/null 2>"$out.capture" &
	local cap=$!
	pids+=("$cap")
	wait_line "$out.capture" "capturing at" "$cap" 100
	"$@"
	kill -INT "$cap"
	wait "$cap" || die "capture failed: $(cat "$out.capture")"
}

# The capture configurations, name=flags: a line per call as it ends,
# every frame as a line of text (the default), every frame rendered as
# JSON, and that at niceness 10 throughout.
configs=("calls=--calls" "text=-o text" "json=-o json" "json-niced=-o json --background=false")
if [ -n "${BENCH_CAPTURE_ARGS:-}" ]; then configs=("custom=$BENCH_CAPTURE_ARGS"); fi

run_mode() { # run_mode KIND ROUND RUN off|CONFIG: RUN names the output
	local kind=$1 round=$2 cap=$4 out="$work/$1-$2-$3.json" args c
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
steal_start
if [ -z "$RATE" ]; then
	ghz_run "$work/probe.json" -n "$SAT_CALLS"
	RATE=$(python3 -c "import json;print(max(100,int(json.load(open('$work/probe.json'))['rps']*0.5)))")
fi
names=(off)
for c in "${configs[@]}"; do
	names+=("${c%%=*}")
	note "capture ${c%%=*}: hoptap capture ${c#*=} --port $port > /dev/null"
done
note "$ROUNDS rounds; saturation: $SAT_CALLS calls, concurrency $CONC over $CONNS connections; fixed rate ($REPEATS times a round): $RATE calls/s for ${RATE_SECS}s"
ons=("${names[@]:1}")
# round KIND N LABEL: every capture run between two capture-off runs; the
# captures' order rotates with N, so drift does not favour one.
round() {
	local kind=$1 n=$2 label=$3 k i=0 cap
	k=$((n % ${#ons[@]}))
	local order=("${ons[@]:$k}" "${ons[@]:0:$k}")
	run_mode "$kind" "$n" off0 off
	for cap in "${order[@]}"; do
		i=$((i + 1))
		note "$label, capture $cap"
		run_mode "$kind" "$n" "$cap" "$cap"
		run_mode "$kind" "$n" "off$i" off
		echo "off$((i - 1)) $cap off$i" >>"$work/order-$kind-$n"
	done
}
for r in $(seq "$ROUNDS"); do
	round sat "$r" "round $r: saturation"
	for k in $(seq "$REPEATS"); do
		round rate $(((r - 1) * REPEATS + k)) "round $r: fixed rate ($k of $REPEATS)"
	done
done

python3 "$here/scripts/bench-capture-report.py" "$work" "$ROUNDS" $((ROUNDS * REPEATS)) "$RATE" "${names[@]}"

# alternate KIND NAME FLAGS: one capture up through ALT_RUNS ghz runs,
# off and on by turns; each run's turns are kept (bench-alternate.py
# windows) and ghz's report of every call dropped, some tens of MB.
# A turn's first 0.3 s are left out: the last events of an "on" turn
# are read (every 250 ms) and decoded at the start of the next.
alternate() {
	local kind=$1 name=$2 flags=$3 out="$work/alt-$1-$2" k args=()
	if [ "$kind" = rate ]; then args=(--rps "$RATE"); fi
	# shellcheck disable=SC2086
	"$HOPTAP" capture $flags --port $port --alternate "${ALT}s" --update-interval 250ms >/dev/null 2>"$out.capture" &
	local cap=$!
	pids+=("$cap")
	wait_line "$out.capture" "capturing at" "$cap" 100
	for k in $(seq "$ALT_RUNS"); do
		ghz_run "$out-$k.json" "${args[@]}" -z "${ALT_SECS}s"
		python3 "$here/scripts/bench-alternate.py" windows "$out-$k.json" "$out.capture" 0.3 >"$out-$k.windows"
		rm -f "$out-$k.json"
	done
	kill -INT "$cap"
	wait "$cap" || die "capture failed: $(cat "$out.capture")"
}
if [ "$ALT" != 0 ]; then
	note "alternating: one capture a configuration through $ALT_RUNS runs of ${ALT_SECS}s, off and on by turns of ${ALT}s"
	for c in "${configs[@]}"; do
		for kind in sat rate; do
			note "alternating, capture ${c%%=*}, $([ $kind = sat ] && echo saturation || echo "fixed rate $RATE/s")"
			alternate "$kind" "${c%%=*}" "${c#*=}"
		done
	done
	python3 "$here/scripts/bench-alternate.py" report "$work" "$RATE" "${ons[@]}"
fi
steal_report
