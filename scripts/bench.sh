# bench.sh: sourced first by the bench scripts that share the testbed:
# messages, the checks every one of them makes, and waiting for a line.
# Set $prog before sourcing.

die() {
	echo "$prog: error: $*" >&2
	exit 1
}
note() { echo "$prog: $*" >&2; }

# bench_preflight BINARY...: root, iproute2, the interop peers, the
# binaries under test, ghz.
bench_preflight() {
	local b
	[ "$(id -u)" = 0 ] || die "needs root: it creates network namespaces and loads BPF programs"
	command -v ip >/dev/null || die "ip (iproute2) missing: run make deps"
	[ -x "$TOOLS/interop-server" ] || die "interop server missing: run make deps"
	for b in "$@"; do
		[ -x "$b" ] || die "$b missing: run make build"
	done
	if [ ! -x "$TOOLS/ghz" ]; then
		note "installing ghz into $TOOLS"
		GOFLAGS= GOBIN="$TOOLS" go install github.com/bojand/ghz/cmd/ghz@latest || die "cannot install ghz"
	fi
}

# wait_line FILE PATTERN PID TENTHS: until FILE has a line matching
# PATTERN (it may not exist yet); fails if PID exits first or TENTHS tenths
# of a second pass.
wait_line() {
	local i
	for i in $(seq "$4"); do
		grep -qs "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || die "process $3 exited: $(tail -5 "$1")"
		sleep 0.1
	done
	die "no line matching '$2' in $1 after $(($4 / 10))s"
}

# steal_start / steal_report: the share of this VM's CPU time its host
# took for others (steal, from /proc/stat) between the two calls. A run
# with much of it ran slow for reasons outside the machine: compare its
# ratios, not its absolute figures.
steal_ticks() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
steal_start() { read -r steal0 total0 < <(steal_ticks); }
steal_report() {
	local s1 t1
	read -r s1 t1 < <(steal_ticks)
	python3 -c "print('host steal during the runs: %.1f %% of CPU time%s' % (100 * ($s1 - $steal0) / max(1, $t1 - $total0), '' if ($s1 - $steal0) * 100 < 2 * max(1, $t1 - $total0) else '  (high: this run was slowed from outside; read its ratios)'))"
}
