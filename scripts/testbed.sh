# testbed.sh: sourced by the bench scripts. Two "pods" (network
# namespaces) on a host bridge in 198.18.0.0/15, which is never routed
# off the machine, and the grpc-go interop server in one of them.
#
# testbed_up: creates $br, $ns_srv, $ns_cli, sets $net, $server, $client
# and $subnet, starts the interop server on $port and waits for it.
# testbed_down: stops what testbed_up and the caller started ($pids).

pids=()

testbed_down() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$ns_srv" 2>/dev/null || true
	ip netns del "$ns_cli" 2>/dev/null || true
	ip link del "$br" 2>/dev/null || true
}

testbed_up() {
	local id=$$ n ns
	br=hbb$((id % 100000))
	ns_srv=$br-srv
	ns_cli=$br-cli
	net=198.18.$((200 + id % 50))
	subnet=$net.0/24
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
	client=$net.3
	ip netns exec "$ns_srv" bash -c "ulimit -n 65536; exec $TOOLS/interop-server -port=$port -use_tls=false" >"$work/server.log" 2>&1 &
	pids+=($!)
	local i
	for i in $(seq 100); do
		ip netns exec "$ns_cli" bash -c "exec 3<>/dev/tcp/$server/$port" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "testbed: the interop server did not start: $(cat "$work/server.log")" >&2
	return 1
}

# ghz_run OUT ARGS...: one ghz run of unary calls from the client pod.
ghz_run() {
	local out=$1
	shift
	[ -f "$work/bench.proto" ] || cp "$here/scripts/testservice.proto" "$work/bench.proto"
	local body
	body=$(head -c 200 /dev/zero | tr '\0' 'x' | base64 -w0)
	ip netns exec "$ns_cli" "$TOOLS/ghz" --insecure --proto "$work/bench.proto" --import-paths "$work" \
		--call grpc.testing.TestService/UnaryCall -c "${CONC:-50}" --connections "${CONNS:-10}" \
		-d "{\"response_size\":200,\"payload\":{\"body\":\"$body\"}}" -O json "$@" "$server:$port" >"$out" 2>"$out.log" || {
		echo "ghz failed: $(cat "$out.log")" >&2
		return 1
	}
}

# cpu_ticks PID: user+system clock ticks of a process.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# rss_kib PID: resident set size.
rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
