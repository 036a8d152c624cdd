#!/usr/bin/env bash
# pgo: the CPU profile Go's profile-guided optimisation builds hoptap and
# hoptap-agent with (default.pgo in cmd/hoptap and cmd/hoptap-agent; go
# build uses it by itself). One profile for both, so that the packages
# they share are compiled once.
#
# Under ghz load (unary calls at a fixed rate, across the namespace
# testbed of the benchmarks) it records the agent's ring events
# (scripts/recevents) and a pcapng of the same traffic (hoptap capture
# -w); then it profiles the agent's pipeline on the events
# (BenchmarkReplay in agent/node) and the decoder printing JSON, text
# and the calls table on the pcapng (BenchmarkDecodeJSON, -Text,
# -Calls), and merges the profiles. Needs root. Settings (environment):
# PGO_RATE (calls/s, 4000), PGO_SECONDS (10), HOPTAP.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
RATE=${PGO_RATE:-4000}
SECS=${PGO_SECONDS:-10}
HOPTAP=${HOPTAP:-$here/bin/hoptap}
TOOLS=$here/.tools/bin
export PATH="$TOOLS:$PATH:/usr/sbin:/sbin"

prog=pgo
# shellcheck source=scripts/bench.sh
. "$here/scripts/bench.sh"
bench_preflight "$HOPTAP"
go build -o "$TOOLS/recevents" ./scripts/recevents || die "cannot build scripts/recevents"

work=$(mktemp -d /tmp/pgo.XXXXXX)
port=10000
# shellcheck source=scripts/testbed.sh
. "$here/scripts/testbed.sh"
trap 'testbed_down; rm -rf "$work"' EXIT
testbed_up || die "cannot start the testbed"
calls=$((RATE * SECS))
note "warming up"
ghz_run "$work/warm.json" -n 2000 || die "ghz failed"

# under_load NAME READY COMMAND...: COMMAND runs (its stderr in
# $work/NAME.log) until it prints READY, through one ghz run, and stops
# on SIGINT.
under_load() {
	local name=$1 ready=$2
	shift 2
	"$@" >/dev/null 2>"$work/$name.log" &
	local pid=$!
	pids+=("$pid")
	wait_line "$work/$name.log" "$ready" "$pid" 200
	ghz_run "$work/$name.json" --rps "$RATE" -n "$calls" || die "ghz failed"
	kill -INT "$pid"
	wait "$pid" || die "$1 failed: $(cat "$work/$name.log")"
}

note "recording the agent's ring events: $RATE calls/s for ${SECS}s"
under_load rec "recording" "$TOOLS/recevents" -host "$subnet" -port "$port" -d $((SECS + 30))s -o "$work/events.gob"
note "recording a pcapng of the same load"
under_load cap "capturing at" "$HOPTAP" capture -w "$work/calls.pcapng" --port "$port"

# The profiles come from plain builds, not from ones already optimised
# with the profile being replaced.
note "profiling the agent's pipeline on the events"
HOPTAP_BENCH_EVENTS=$work/events.gob go test -pgo=off -run '^$' -bench '^BenchmarkReplay$' -benchtime 60x \
	-cpuprofile "$work/replay.prof" -o "$work/node.test" ./agent/node >"$work/replay.out" ||
	die "replay benchmark failed: $(cat "$work/replay.out")"
grep '^BenchmarkReplay' "$work/replay.out" >&2
note "profiling the decoder with JSON, text and calls output on the pcapng"
HOPTAP_BENCH_PCAP=$work/calls.pcapng go test -pgo=off -run '^$' -bench '^BenchmarkDecode(JSON|Text|Calls)$' -benchtime 20x \
	-cpuprofile "$work/decode.prof" -o "$work/decoder.test" ./decoder >"$work/decode.out" ||
	die "decoder benchmarks failed: $(cat "$work/decode.out")"
grep '^BenchmarkDecode' "$work/decode.out" >&2

go tool pprof -proto "$work/replay.prof" "$work/decode.prof" >"$work/merged.pgo" 2>"$work/pprof.log" ||
	die "merging the profiles: $(cat "$work/pprof.log")"
for dir in cmd/hoptap cmd/hoptap-agent; do
	cp "$work/merged.pgo" "$dir/default.pgo"
done
note "wrote cmd/hoptap/default.pgo and cmd/hoptap-agent/default.pgo ($(stat -c %s "$work/merged.pgo") bytes); make build uses them"
