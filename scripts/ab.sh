#!/usr/bin/env bash
# ab: two builds of the agent (or of hoptap capture) on the same traffic
# at once, for changes too small to see between runs one after another:
# this shared VM's speed drifts by a third within minutes, but both
# builds live through the same drift. ghz calls the interop server
# across the benchmarks' namespace testbed at a fixed rate; both
# processes attach their own programs and see every packet. Printed per
# round: each one's CPU per 1,000 calls and B/A; then the rounds' median
# B/A. The two share the cores, so each costs more than it would alone;
# the ratio is the figure. Needs root.
#
#   scripts/ab.sh OLD-BINARY NEW-BINARY
#
# Settings (environment): AB_MODE (agent or capture, agent), AB_ARGS
# (extra flags for both, e.g. "-o json" for capture; --calls by default
# there), AB_RATE (calls/s, 4000), AB_CALLS (per round, 80000),
# AB_ROUNDS (5).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ $# = 2 ] || {
	echo "usage: scripts/ab.sh OLD-BINARY NEW-BINARY (both hoptap-agent, or both hoptap with AB_MODE=capture)" >&2
	exit 2
}
MODE=${AB_MODE:-agent}
RATE=${AB_RATE:-4000}
CALLS=${AB_CALLS:-80000}
ROUNDS=${AB_ROUNDS:-5}
TOOLS=$here/.tools/bin
export PATH="$TOOLS:$PATH:/usr/sbin:/sbin"

prog=ab
# shellcheck source=scripts/bench.sh
. "$here/scripts/bench.sh"
bench_preflight "$1" "$2"
case $MODE in
agent | capture) ;;
*) die "AB_MODE: agent or capture, not $MODE" ;;
esac

work=$(mktemp -d /tmp/ab.XXXXXX)
port=10000
# shellcheck source=scripts/testbed.sh
. "$here/scripts/testbed.sh"
trap 'testbed_down; rm -rf "$work"' EXIT
testbed_up || die "cannot start the testbed"
note "warming up"
ghz_run "$work/warm.json" -n 4000 || die "ghz failed"

# start NAME BINARY METRICS-PORT: one of the two, ready; its pid in $started.
start() {
	local log=$work/$1.log
	if [ "$MODE" = agent ]; then
		# shellcheck disable=SC2086 # AB_ARGS is a list of flags
		"$2" --host "$subnet" --port "$port" --metrics-addr "127.0.0.1:$3" --api-socket none ${AB_ARGS:-} 2>"$log" &
		started=$!
		pids+=("$started")
		for _ in $(seq 200); do
			curl -sf "http://127.0.0.1:$3/readyz" >/dev/null 2>&1 && return 0
			kill -0 "$started" 2>/dev/null || die "$2 exited: $(cat "$log")"
			sleep 0.05
		done
		die "$2 not ready: $(cat "$log")"
	fi
	# shellcheck disable=SC2086
	"$2" capture ${AB_ARGS:---calls} --port "$port" >/dev/null 2>"$log" &
	started=$!
	pids+=("$started")
	wait_line "$log" "capturing at" "$started" 200
}

mport=$((20000 + $$ % 20000))
ratios=()
for round in $(seq "$ROUNDS"); do
	start a "$1" "$mport"
	a=$started
	start b "$2" $((mport + 1))
	b=$started
	a0=$(cpu_ticks "$a") b0=$(cpu_ticks "$b")
	ghz_run "$work/load.json" --rps "$RATE" -n "$CALLS" || die "ghz failed"
	a1=$(cpu_ticks "$a") b1=$(cpu_ticks "$b")
	kill -INT "$a" "$b"
	wait "$a" || die "$1 failed: $(tail -3 "$work/a.log")"
	wait "$b" || die "$2 failed: $(tail -3 "$work/b.log")"
	# Clock ticks are 10 ms.
	r=$(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v n="$CALLS" -v k="$round/$ROUNDS" \
		'BEGIN {printf "round %s: A %.2f  B %.2f ms CPU per 1,000 calls  B/A %.3f\n", k, a * 10000 / n, b * 10000 / n, a ? b / a : 0}')
	echo "$r"
	ratios+=("${r##* }")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {printf "B/A median of %d rounds: %.3f (min %.3f, max %.3f)\n", NR, v[int((NR + 1) / 2)], v[1], v[NR]}'
