#!/usr/bin/env bash
# cluster.sh up|down|env|import — a real single-node Kubernetes cluster on
# this machine, for end-to-end tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd + runc, kubelet and
# kube-proxy (iptables mode), all as plain processes started by this script.
# No systemd, no kubeadm, no registry: images are imported tarballs
# (scripts/image.py) and pods must use imagePullPolicy: Never/IfNotPresent.
#
#   up       start everything; returns when the node is Ready and the
#            "default" ServiceAccount exists (time-limited, HOPTAP_K8S_TIMEOUT
#            seconds, default 180). On failure it points at the log that
#            explains it and tears down again (HOPTAP_K8S_KEEP=1 keeps it).
#   down     stop everything, remove every interface, route, iptables chain,
#            mount and cgroup that up created (tracefs too, when up had to
#            mount it, as a node's init would) and restore the sysctls that
#            were changed. Safe to run when nothing is up, and twice.
#   env      print shell exports: eval "$(test/e2e/k8s/cluster.sh env)"
#            (KUBECONFIG, PATH with kubectl, CONTAINERD_ADDRESS/NAMESPACE so
#            that plain `ctr images import x.tar` reaches the cluster).
#   import   TAR... import docker-archive tarballs (scripts/image.py output)
#            into the cluster's containerd.
#
# State, configs, certificates and logs live in HOPTAP_K8S_DIR (default
# /tmp/hoptap-k8s); logs stay in $HOPTAP_K8S_DIR/logs after down. Only one
# cluster per machine: interface names and addresses below are fixed.
#
# Network layout (all in 198.18.0.0/15, the benchmarking range; the
# maintainer's testbed uses 198.18.250.0/24, which is left alone):
#   198.18.127.1/32  node IP, on port-less bridge hoptapk8s0; apiserver
#                    (:6443) and kubelet (:10250) listen only there
#   198.18.128.0/24  pods, on bridge cni-hoptap0 (gateway .1)
#   198.19.0.0/16    services; 198.19.0.1 is the kubernetes Service
# Nothing is routed off the machine: see setup_network.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
DIR=$(realpath -m "${HOPTAP_K8S_DIR:-/tmp/hoptap-k8s}") # absolute: pids and mounts are matched by it
K8S_VERSION=${K8S_VERSION:-v1.35.4}
NODE_NAME=${HOPTAP_K8S_NODE_NAME:-hoptap-node}
TIMEOUT=${HOPTAP_K8S_TIMEOUT:-180}

NODE_IP=198.18.127.1
NODE_IF=hoptapk8s0
BRIDGE=cni-hoptap0
POD_CIDR=198.18.128.0/24
POD_GW=198.18.128.1
SVC_CIDR=198.19.0.0/16
API_SVC_IP=198.19.0.1
API_PORT=6443
ETCD_CLIENT=127.0.0.1:23790
ETCD_PEER=127.0.0.1:23800
STREAM_PORT=23810 # containerd CRI streaming (port-forward/exec), loopback
BLACKHOLE_METRIC=4242
FWD_CHAIN=HOPTAP-K8S-FWD
CGROUP_ROOT=hoptap-k8s
PAUSE_IMAGE=hoptap.test/pause:1

PKI=$DIR/pki
ETC=$DIR/etc
PIDS=$DIR/pids
LOGS=$DIR/logs
SAVED=$DIR/saved # exists from the start of up to the end of down
CTRD=$DIR/containerd
SOCK=$CTRD/containerd.sock
KUBECONFIG_ADMIN=$DIR/admin.kubeconfig
KUBECACHE=$DIR/kube-cache # kubectl's discovery cache, instead of ~/.kube
# Interface alias naming the state dir that owns the (machine-wide) network
# setup, so that a down with another HOPTAP_K8S_DIR leaves it alone.
OWNER="hoptap-k8s:$DIR"

# Host paths that kubelet, containerd 1.6 and libcni use whatever they are
# told (device-plugin socket, /var/log/containers symlinks, shim sockets in
# /run/containerd/s, libcni's result cache; the flexvolume dir is moved by
# flags, listed in case). up records which of them do not
# exist yet; down removes exactly those.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /run/containerd /var/lib/cni /usr/libexec/kubernetes)

# sysctls that kubelet (setupKernelTunables), the bridge, kube-proxy or this
# script may change; up records them, down writes back those that differ.
SYSCTLS=(
	kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes
	net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding
	net.ipv6.conf.all.forwarding net.ipv6.conf.default.forwarding
	net.ipv4.conf.all.route_localnet
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
	net.bridge.bridge-nf-call-arptables
	net.netfilter.nf_conntrack_max
	net.netfilter.nf_conntrack_tcp_timeout_established
	net.netfilter.nf_conntrack_tcp_timeout_close_wait
	net.netfilter.nf_conntrack_tcp_be_liberal
	net.netfilter.nf_conntrack_udp_timeout
	net.netfilter.nf_conntrack_udp_timeout_stream
)

T0=${EPOCHREALTIME/,/.}
log() { printf 'cluster: [%6.1fs] %s\n' "$(elapsed)" "$*" >&2; }
elapsed() { awk -v a="$T0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN{printf "%.1f", b-a}'; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# tail_log NAME: the end of a component's log, for error messages.
tail_log() {
	local f="$LOGS/$1.log"
	[[ -f "$f" ]] || return 0
	printf -- '--- last lines of %s ---\n' "$f" >&2
	tail -n 25 "$f" >&2
	printf -- '---\n' >&2
}

# ---------------------------------------------------------------- processes

# start NAME CMD...: run CMD as a daemon in its own session, output to
# $LOGS/NAME.log, pid to $PIDS/NAME.pid.
start() {
	local name=$1
	shift
	# 8<&-: the daemons must not inherit (and hold) the up/down lock.
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 8<&- &
	echo $! >"$PIDS/$name.pid"
}

# ours PID: the process is alive and one of ours (its command line names
# $DIR), so that a recycled pid is never signalled.
ours() {
	local pid=$1
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | grep -qF -- "$DIR/"
}

alive() { # NAME
	local f="$PIDS/$1.pid"
	[[ -f "$f" ]] && ours "$(<"$f")"
}

# stop NAME [TIMEOUT]: TERM, then KILL after TIMEOUT seconds.
stop() {
	local name=$1 t=${2:-10} f="$PIDS/$1.pid" pid i
	[[ -f "$f" ]] || return 0
	pid=$(<"$f")
	if ours "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < t * 10; i++)); do
			ours "$pid" || break
			sleep 0.1
		done
		if ours "$pid"; then
			log "$name (pid $pid) ignored SIGTERM for ${t}s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				[[ -e /proc/$pid ]] || break
				sleep 0.1
			done
		fi
	fi
	rm -f "$f"
}

# check_alive NAME...: fail, pointing at the log, when one has exited.
check_alive() {
	local n
	for n in "$@"; do
		alive "$n" || { tail_log "$n"; die "$n exited; see $LOGS/$n.log"; }
	done
}

# wait_for WHAT LOGNAME CMD...: poll CMD until it succeeds, up to the
# deadline; while waiting, every started component must stay alive.
wait_for() {
	local what=$1 logname=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		check_alive "${STARTED[@]}"
		if ((SECONDS >= DEADLINE)); then
			tail_log "$logname"
			die "timed out (HOPTAP_K8S_TIMEOUT=${TIMEOUT}s) waiting for $what; see $LOGS/$logname.log (all logs in $LOGS)"
		fi
		sleep 0.2
	done
}

# ---------------------------------------------------------------- pki

OPENSSL_CNF=
pki_init() {
	mkdir -p "$PKI"
	OPENSSL_CNF=$PKI/openssl.cnf
	cat >"$OPENSSL_CNF" <<-'EOF'
		[req]
		distinguished_name = dn
		prompt = no
		[dn]
		CN = unused
		[v3_ca]
		basicConstraints = critical,CA:TRUE
		keyUsage = critical,keyCertSign,cRLSign,digitalSignature
		subjectKeyIdentifier = hash
	EOF
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/ca.key" 2>/dev/null
	openssl req -x509 -new -config "$OPENSSL_CNF" -extensions v3_ca -key "$PKI/ca.key" \
		-subj "/CN=hoptap-k8s-ca" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
}

# cert NAME SUBJECT EKU [SAN]: key + certificate signed by the cluster CA.
cert() {
	local name=$1 subj=$2 eku=$3 san=${4:-}
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$name.key" 2>/dev/null
	openssl req -new -config "$OPENSSL_CNF" -key "$PKI/$name.key" -subj "$subj" \
		-out "$PKI/$name.csr" 2>/dev/null
	{
		echo "[v3]"
		echo "basicConstraints = critical,CA:FALSE"
		echo "keyUsage = critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage = $eku"
		echo "authorityKeyIdentifier = keyid"
		[[ -z "$san" ]] || echo "subjectAltName = $san"
	} >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -days 365 -extfile "$PKI/$name.ext" -extensions v3 \
		-out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# kubeconfig FILE USER CERTNAME: a kubeconfig with embedded credentials.
kubeconfig() {
	local file=$1 user=$2 c=$3
	cat >"$file" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: hoptap-k8s
		  cluster:
		    server: https://$NODE_IP:$API_PORT
		    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
		users:
		- name: $user
		  user:
		    client-certificate-data: $(base64 -w0 "$PKI/$c.crt")
		    client-key-data: $(base64 -w0 "$PKI/$c.key")
		contexts:
		- name: hoptap-k8s
		  context:
		    cluster: hoptap-k8s
		    user: $user
		current-context: hoptap-k8s
	EOF
	chmod 600 "$file"
}

make_pki() {
	pki_init
	local ca=clientAuth srv=serverAuth
	cert apiserver "/CN=kube-apiserver" "$srv" \
		"IP:127.0.0.1,IP:$NODE_IP,IP:$API_SVC_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE_NAME,DNS:localhost"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$ca"
	cert admin "/O=system:masters/CN=hoptap-admin" "$ca"
	cert controller-manager "/CN=system:kube-controller-manager" "$ca"
	cert scheduler "/CN=system:kube-scheduler" "$ca"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$ca"
	cert kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" "$srv" \
		"IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME,DNS:localhost"
	cert kube-proxy "/CN=system:kube-proxy" "$ca"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/sa.key" 2>/dev/null
	openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	chmod 600 "$PKI"/*.key

	kubeconfig "$KUBECONFIG_ADMIN" admin admin
	kubeconfig "$ETC/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
	kubeconfig "$ETC/scheduler.kubeconfig" system:kube-scheduler scheduler
	kubeconfig "$ETC/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet
	kubeconfig "$ETC/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
}

# ---------------------------------------------------------------- host state

save_host_state() {
	mkdir -p "$SAVED"
	local k v
	: >"$SAVED/sysctl"
	for k in "${SYSCTLS[@]}"; do
		v=$(sysctl -n "$k" 2>/dev/null) && printf '%s=%s\n' "$k" "$v" >>"$SAVED/sysctl"
	done
	# Writing net.ipv4.ip_forward rewrites every interface's forwarding
	# flag, so those are recorded too (restored after ip_forward).
	for k in /proc/sys/net/ipv4/conf/*/forwarding; do
		v=${k#/proc/sys/net/ipv4/conf/}
		v=${v%/forwarding}
		[[ "$v" == all || "$v" == default ]] && continue
		printf 'net.ipv4.conf.%s.forwarding=%s\n' "$v" "$(<"$k")" >>"$SAVED/sysctl.ifaces"
	done
	# iptables tables that exist now; down deletes the others once empty.
	iptables-save 2>/dev/null | sed -n 's/^\*//p' >"$SAVED/ip4tables" || true
	ip6tables-save 2>/dev/null | sed -n 's/^\*//p' >"$SAVED/ip6tables" || true
	{ iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -c 'KUBE-' >"$SAVED/kube-rules" || true
	: >"$SAVED/absent-paths"
	for k in "${HOST_PATHS[@]}"; do
		[[ -e "$k" ]] || echo "$k" >>"$SAVED/absent-paths"
	done
}

remove_host_paths() {
	local p
	[[ -f "$SAVED/absent-paths" ]] || return 0
	while IFS= read -r p; do
		[[ -n "$p" && -e "$p" ]] || continue
		log "removing $p (created by kubelet/containerd/CNI)"
		rm -rf -- "$p"
	done <"$SAVED/absent-paths"
}

restore_sysctls() {
	local f line k v cur files=("$SAVED/sysctl")
	# Per-interface forwarding flags only matter when something rewrote
	# net.ipv4.ip_forward (which resets them all); otherwise other tests'
	# interfaces are none of our business.
	if [[ -f "$SAVED/sysctl" ]] &&
		[[ "$(grep '^net.ipv4.ip_forward=' "$SAVED/sysctl" | cut -d= -f2)" != "$(</proc/sys/net/ipv4/ip_forward)" ]]; then
		files+=("$SAVED/sysctl.ifaces")
	fi
	for f in "${files[@]}"; do
		[[ -f "$f" ]] || continue
		while IFS= read -r line; do
			k=${line%%=*}
			v=${line#*=}
			# interface names may contain dots: write /proc directly.
			local p="/proc/sys/${k//./\/}"
			if [[ "$k" == net.ipv4.conf.*.forwarding ]]; then
				p="/proc/sys/net/ipv4/conf/${k#net.ipv4.conf.}"
				p="${p%.forwarding}/forwarding"
			fi
			[[ -w "$p" ]] || continue
			cur=$(tr -s '\t' ' ' <"$p")
			if [[ "$cur" != "$(tr -s '\t' ' ' <<<"$v")" ]]; then
				log "sysctl $k: $cur -> $v"
				printf '%s\n' "$v" >"$p" || log "warning: cannot restore $k"
			fi
		done <"$f"
	done
}

setup_tracefs() {
	# A node's init mounts tracefs (systemd's sys-kernel-tracing.mount);
	# the agent, without CAP_SYS_ADMIN, cannot, and its tracepoints need it.
	mountpoint -q /sys/kernel/tracing && return 0
	mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs at /sys/kernel/tracing"
	echo /sys/kernel/tracing >"$SAVED/mounted"
	log "mounted tracefs at /sys/kernel/tracing (down unmounts it)"
}

unmount_host_fs() {
	local mp
	[[ -f "$SAVED/mounted" ]] || return 0
	while IFS= read -r mp; do
		[[ -n "$mp" ]] && mountpoint -q "$mp" || continue
		umount "$mp" && log "unmounted $mp" || log "warning: cannot unmount $mp"
	done <"$SAVED/mounted"
}

setup_cgroups() {
	# A private cgroup root: kubelet puts kubepods/ under it, and down can
	# find (and kill) every pod process by cgroup.
	local m
	for m in /sys/fs/cgroup/*/; do
		m=${m%/}
		[[ -f "$m/cgroup.procs" ]] || continue
		mkdir -p "$m/$CGROUP_ROOT"
		if [[ -f "$m/cpuset.cpus" ]]; then
			[[ -n "$(<"$m/$CGROUP_ROOT/cpuset.cpus")" ]] || cat "$m/cpuset.cpus" >"$m/$CGROUP_ROOT/cpuset.cpus"
			[[ -n "$(<"$m/$CGROUP_ROOT/cpuset.mems")" ]] || cat "$m/cpuset.mems" >"$m/$CGROUP_ROOT/cpuset.mems"
		fi
	done
}

setup_network() {
	# The node address lives on an interface of its own: the apiserver
	# refuses a loopback address as the "kubernetes" Service endpoint, and
	# the machine's real interface must not carry cluster traffic. This
	# kernel has no dummy driver (CONFIG_DUMMY unset, no modules), so it is
	# a bridge without ports, which behaves the same way: its addresses are
	# local, and whatever is routed into it is dropped.
	ip link add "$NODE_IF" type bridge
	ip link set "$NODE_IF" alias "$OWNER"
	ip addr add "$NODE_IP/32" dev "$NODE_IF"
	ip link set "$NODE_IF" up
	# Service IPs are routed to that port-less device, which drops
	# whatever it is given: kube-proxy DNATs every live ClusterIP before that matters,
	# and, unlike a blackhole route, this lets host processes connect()
	# (the route lookup at connect time precedes the DNAT).
	ip route add "$SVC_CIDR" dev "$NODE_IF"
	# The pod bridge, created here (not by the CNI plugin, which runs with
	# isGateway=false) so that it carries the gateway address without the
	# plugin switching on net.ipv4.ip_forward for the whole machine: only
	# packets that arrive on the bridge may be forwarded. nf_call_iptables
	# (per bridge) lets kube-proxy's DNAT see pod-to-pod bridged replies.
	ip link add "$BRIDGE" type bridge nf_call_iptables 1
	ip link set "$BRIDGE" alias "$OWNER"
	ip addr add "$POD_GW/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	echo 1 >"/proc/sys/net/ipv4/conf/$BRIDGE/forwarding"
	# Fallbacks behind the routes above (higher metric): if the two
	# interfaces disappear, these ranges still go nowhere instead
	# of following the default route off the machine.
	ip route add blackhole "$POD_CIDR" metric "$BLACKHOLE_METRIC"
	ip route add blackhole "$SVC_CIDR" metric "$BLACKHOLE_METRIC"
	# Pods may talk to each other and to the host, never be forwarded
	# elsewhere (mangle FORWARD runs before kube-proxy's filter rules).
	iptables -w -t mangle -N "$FWD_CHAIN"
	iptables -w -t mangle -A "$FWD_CHAIN" -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
	iptables -w -t mangle -A "$FWD_CHAIN" ! -i "$BRIDGE" -o "$BRIDGE" -j DROP
	iptables -w -t mangle -I FORWARD 1 -j "$FWD_CHAIN"
}

# ---------------------------------------------------------------- images

# pause_image: path of the pause image tarball, built once per source.
pause_image() {
	local cache="${XDG_CACHE_HOME:-$HOME/.cache}/hoptap/k8s/images" sum out
	sum=$(cat "$HERE/pause/main.go" <(go version) | sha256sum | cut -c1-16)
	out="$cache/pause-$sum.tar"
	if [[ ! -f "$out" ]]; then
		mkdir -p "$cache"
		local tmp
		tmp=$(mktemp -d "$cache/.pause.XXXXXX")
		(cd "$REPO" && CGO_ENABLED=0 GOFLAGS='' GOWORK=off go build -trimpath -ldflags='-s -w' \
			-o "$tmp/pause" ./test/e2e/k8s/pause) || { rm -rf "$tmp"; die "building the pause image failed"; }
		python3 "$REPO/scripts/image.py" "$tmp/pause" "$tmp/pause.tar" "$PAUSE_IMAGE" >/dev/null
		mv "$tmp/pause.tar" "$out"
		rm -rf "$tmp"
	fi
	echo "$out"
}

import_images() {
	local t
	for t in "$@"; do
		ctr -a "$SOCK" -n k8s.io images import --all-platforms "$t" >/dev/null ||
			die "ctr images import $t failed; see $LOGS/containerd.log"
	done
}

# ---------------------------------------------------------------- configs

write_configs() {
	mkdir -p "$ETC" "$DIR/cni/net.d" "$DIR/cni/ipam" "$CTRD" "$DIR/kubelet" "$DIR/pod-logs"
	# Pods get a resolv.conf that points at nothing (no cluster DNS; the
	# node IP has no port 53): lookups fail fast and never leave the host.
	printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$NODE_IP" >"$ETC/resolv.conf"

	cat >"$DIR/cni/net.d/10-hoptap.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "hoptap-k8s",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$BRIDGE",
		      "isGateway": false,
		      "ipMasq": false,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$DIR/cni/ipam",
		        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
		        "routes": [{"dst": "0.0.0.0/0"}]
		      }
		    }
		  ]
		}
	EOF

	cat >"$ETC/containerd.toml" <<-EOF
		version = 2
		root = "$CTRD/root"
		state = "$CTRD/state"
		disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$SOCK"
		[ttrpc]
		  address = "$SOCK.ttrpc"
		[debug]
		  level = "info"
		[metrics]
		  address = ""
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$CTRD/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  # Required here: the VM withholds CAP_SYS_RESOURCE, so runc cannot
		  # lower oom_score_adj below its own and fails every pod with
		  # "can't get final child's PID from pipe: EOF".
		  restrict_oom_score_adj = true
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "$STREAM_PORT"
		  netns_mounts_under_state_dir = true
		  enable_selinux = false
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		        Root = "$CTRD/runc"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$DIR/cni/net.d"
		    max_conf_num = 1
	EOF

	cat >"$ETC/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		# kubelet 1.35 refuses cgroup v1 hosts unless told otherwise; this VM
		# has a hybrid v1+v2 layout without systemd.
		failCgroupV1: false
		cgroupDriver: cgroupfs
		cgroupRoot: /$CGROUP_ROOT
		containerRuntimeEndpoint: unix://$SOCK
		imageServiceEndpoint: unix://$SOCK
		address: $NODE_IP
		port: 10250
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		healthzPort: 10248
		tlsCertFile: $PKI/kubelet-serving.crt
		tlsPrivateKeyFile: $PKI/kubelet-serving.key
		rotateCertificates: false
		serverTLSBootstrap: false
		authentication:
		  anonymous:
		    enabled: false
		  webhook:
		    enabled: true
		  x509:
		    clientCAFile: $PKI/ca.crt
		authorization:
		  mode: Webhook
		resolvConf: $ETC/resolv.conf
		podLogsDir: $DIR/pod-logs
		failSwapOn: false
		# Imported images cannot be pulled again: never garbage-collect them.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard:
		  memory.available: "100Mi"
		  nodefs.available: "1%"
		  nodefs.inodesFree: "1%"
		  imagefs.available: "1%"
		  imagefs.inodesFree: "1%"
		evictionPressureTransitionPeriod: 10s
		syncFrequency: 10s
		fileCheckFrequency: 20s
		shutdownGracePeriod: 0s
	EOF

	cat >"$ETC/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		clientConnection:
		  kubeconfig: $ETC/kube-proxy.kubeconfig
		mode: iptables
		hostnameOverride: $NODE_NAME
		clusterCIDR: $POD_CIDR
		healthzBindAddress: 127.0.0.1:10256
		metricsBindAddress: 127.0.0.1:10249
		# NodePorts only on the node IP, never on the machine's interfaces.
		nodePortAddresses: ["$NODE_IP/32"]
		iptables:
		  masqueradeAll: false
		  # Would need net.ipv4.conf.all.route_localnet=1.
		  localhostNodePorts: false
		# 0: leave the conntrack sysctls alone (nf_conntrack_max is not
		# writable from here anyway, and nothing needs bigger tables).
		conntrack:
		  maxPerCore: 0
		  min: 0
		  tcpEstablishedTimeout: 0s
		  tcpCloseWaitTimeout: 0s
	EOF
}

# ---------------------------------------------------------------- up

leftover() {
	[[ -d "$SAVED" ]] && return 0
	ip link show "$NODE_IF" >/dev/null 2>&1 && return 0
	ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
	return 1
}

STARTED=()
DEADLINE=0

cmd_up() {
	[[ "$(id -u)" == 0 ]] || die "must run as root"
	leftover && die "a cluster (or the leftovers of one) is already there ($DIR/saved, $NODE_IF or $BRIDGE exists); run: $0 down"
	local mem0
	mem0=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)

	log "dependencies (deps.sh, build-binaries.sh)"
	"$HERE/deps.sh"
	BIN=$("$HERE/build-binaries.sh")
	[[ -x "$BIN/kubectl" ]] || die "build-binaries.sh gave no binaries"
	local pause_tar
	pause_tar=$(pause_image)
	# The time limit is the cluster's start's: the one-time build of
	# the binaries (minutes, cold) and the packages come before it.
	DEADLINE=$((SECONDS + TIMEOUT))

	rm -rf "$LOGS"
	mkdir -p "$DIR" "$PIDS" "$LOGS" "$ETC"
	echo "$BIN" >"$DIR/bindir"
	trap 'up_failed' EXIT

	save_host_state
	log "certificates and configs in $DIR"
	make_pki
	write_configs
	setup_tracefs
	setup_cgroups
	setup_network

	log "starting etcd, containerd, kube-apiserver"
	start etcd etcd --name hoptap-k8s --data-dir "$DIR/etcd" \
		--listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
		--listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
		--initial-cluster "hoptap-k8s=http://$ETCD_PEER" --initial-cluster-state new \
		--unsafe-no-fsync --logger zap --log-outputs stderr
	STARTED+=(etcd)
	start containerd containerd --config "$ETC/containerd.toml"
	STARTED+=(containerd)
	start kube-apiserver "$BIN/kube-apiserver" \
		--advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$API_PORT" \
		--etcd-servers="http://$ETCD_CLIENT" \
		--service-cluster-ip-range="$SVC_CIDR" \
		--authorization-mode=Node,RBAC --allow-privileged=true \
		--enable-admission-plugins=NodeRestriction \
		--client-ca-file="$PKI/ca.crt" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--profiling=false
	STARTED+=(kube-apiserver)

	wait_for "containerd" containerd ctr -a "$SOCK" version
	import_images "$pause_tar"
	wait_for "kube-apiserver /readyz" kube-apiserver \
		"$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" --cache-dir "$KUBECACHE" --request-timeout=5s get --raw /readyz
	log "kube-apiserver ready; starting controller-manager, scheduler, kubelet, kube-proxy"

	start kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig="$ETC/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$ETC/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$ETC/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false \
		--use-service-account-credentials=true \
		--service-account-private-key-file="$PKI/sa.key" \
		--root-ca-file="$PKI/ca.crt" \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--allocate-node-cidrs=false --service-cluster-ip-range="$SVC_CIDR" \
		--flex-volume-plugin-dir="$DIR/kubelet/volume-plugins" \
		--kube-api-qps=200 --kube-api-burst=400 \
		--profiling=false
	STARTED+=(kube-controller-manager)
	start kube-scheduler "$BIN/kube-scheduler" \
		--kubeconfig="$ETC/scheduler.kubeconfig" \
		--authentication-kubeconfig="$ETC/scheduler.kubeconfig" \
		--authorization-kubeconfig="$ETC/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --profiling=false
	STARTED+=(kube-scheduler)
	start kubelet "$BIN/kubelet" --config="$ETC/kubelet.yaml" \
		--kubeconfig="$ETC/kubelet.kubeconfig" \
		--root-dir="$DIR/kubelet" --cert-dir="$DIR/kubelet/pki" \
		--volume-plugin-dir="$DIR/kubelet/volume-plugins" \
		--hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
	STARTED+=(kubelet)
	start kube-proxy "$BIN/kube-proxy" --config="$ETC/kube-proxy.yaml"
	STARTED+=(kube-proxy)

	local k=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" --cache-dir "$KUBECACHE" --request-timeout=5s)
	wait_for "node $NODE_NAME to be Ready" kubelet node_ready "${k[@]}"
	log "node $NODE_NAME Ready"
	wait_for "ServiceAccount default/default" kube-controller-manager "${k[@]}" get serviceaccount default
	# kube-proxy has written the kubernetes Service's rules once this DNAT
	# target exists; pods started before would race with it.
	wait_for "kube-proxy rules for $API_SVC_IP" kube-proxy \
		sh -c "iptables -w -t nat -S KUBE-SERVICES | grep -qF '$API_SVC_IP/32'"
	trap - EXIT

	local mem1
	mem1=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)
	log "cluster up in $(elapsed)s; node $NODE_NAME Ready; ~$(((mem0 - mem1) / 1024)) MiB of memory in use by it"
	# shellcheck disable=SC2016 # literal $(...) for the user to paste
	printf 'cluster: use it with: eval "$(%s env)"\n' "$0" >&2
}

node_ready() {
	[[ "$("$@" get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

up_failed() {
	local rc=$?
	trap - EXIT
	((rc == 0)) && return
	if [[ "${HOPTAP_K8S_KEEP:-}" == 1 ]]; then
		printf 'cluster: up failed; HOPTAP_K8S_KEEP=1, leaving it as it is (run %s down)\n' "$0" >&2
	else
		printf 'cluster: up failed; tearing down (logs stay in %s; HOPTAP_K8S_KEEP=1 keeps the cluster)\n' "$LOGS" >&2
		cmd_down || true
	fi
	exit "$rc"
}

# ---------------------------------------------------------------- down

# cgroup_dirs: every hierarchy's copy of our cgroup root.
cgroup_dirs() {
	local m
	for m in /sys/fs/cgroup/*/"$CGROUP_ROOT" /sys/fs/cgroup/"$CGROUP_ROOT"; do
		[[ -d "$m" ]] && echo "$m"
	done
	return 0
}

kill_pod_processes() {
	local i d pids
	for ((i = 0; i < 50; i++)); do
		pids=$(cgroup_dirs | while read -r d; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u) || true
		[[ -n "$pids" ]] || return 0
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	log "warning: processes left in the $CGROUP_ROOT cgroups: $pids"
}

remove_cgroups() {
	local d
	cgroup_dirs | while read -r d; do
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ ! -d "$d" ]] || log "warning: cannot remove cgroup $d"
	done
}

# our_shims: containerd shims serving our containerd (they outlive it).
our_shims() {
	local p
	for p in /proc/[0-9]*; do
		[[ -r "$p/cmdline" ]] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qE "^[^ ]*containerd-shim[^ ]* .*-address $SOCK( |$)" &&
			echo "${p#/proc/}"
	done
	return 0
}

stop_containers() {
	local ids id
	if alive containerd; then
		# With kubelet gone nothing restarts them: kill, then delete each
		# task so that its shim exits and unmounts the container's rootfs.
		ids=$(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null || true)
		for id in $ids; do
			timeout 5 ctr -a "$SOCK" -n k8s.io tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
		done
		kill_pod_processes
		for id in $ids; do
			timeout 5 ctr -a "$SOCK" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
		done
	fi
	kill_pod_processes
}

unmount_all() {
	# Deepest first; nsfs (pod network namespaces) and overlay/tmpfs mounts
	# under $DIR, including kubelet's rshared bind mount of its root dir.
	local mp i
	for ((i = 0; i < 5; i++)); do
		mapfile -t mps < <(awk -v d="$DIR" '{ p = $5; gsub(/\\040/, " ", p); if (p == d || index(p, d "/") == 1) print p }' /proc/self/mountinfo | sort -r)
		((${#mps[@]} > 0)) || return 0
		for mp in "${mps[@]}"; do
			umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
		done
	done
	log "warning: still mounted under $DIR: ${mps[*]}"
}

# delete_kube_chains CMD: remove every KUBE-* rule and chain of one family.
delete_kube_chains() {
	local ipt=$1 t line chain
	for t in filter nat mangle raw security; do
		"$ipt" -w -t "$t" -S >/dev/null 2>&1 || continue
		while IFS= read -r line; do
			eval "$ipt -w -t $t ${line/#-A/-D}" 2>/dev/null || true
		done < <("$ipt" -w -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*KUBE-' || true)
		for chain in $("$ipt" -w -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
			"$ipt" -w -t "$t" -F "$chain" 2>/dev/null || true
		done
		for chain in $("$ipt" -w -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
			"$ipt" -w -t "$t" -X "$chain" 2>/dev/null || true
		done
	done
}

# drop_new_empty_tables CMD FAMILY SAVEDLIST: delete the iptables-nft tables
# that did not exist before up and hold nothing now.
drop_new_empty_tables() {
	local ipt=$1 fam=$2 saved=$3 t
	[[ -f "$saved" ]] && command -v nft >/dev/null || return 0
	for t in filter nat mangle raw security; do
		grep -qx "$t" "$saved" && continue
		nft list table "$fam" "$t" >/dev/null 2>&1 || continue
		if ! "$ipt" -w -t "$t" -S 2>/dev/null | grep -qv '^-P [A-Z]* ACCEPT$'; then
			nft delete table "$fam" "$t" 2>/dev/null || true
		fi
	done
}

cleanup_iptables() {
	if command -v iptables >/dev/null; then
		iptables -w -t mangle -D FORWARD -j "$FWD_CHAIN" 2>/dev/null || true
		iptables -w -t mangle -F "$FWD_CHAIN" 2>/dev/null || true
		iptables -w -t mangle -X "$FWD_CHAIN" 2>/dev/null || true
	fi
	local bin
	bin=$(bindir)
	if [[ -x "$bin/kube-proxy" ]] && { iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -q 'KUBE-'; then
		"$bin/kube-proxy" --cleanup >>"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
	fi
	# What kube-proxy --cleanup leaves (kubelet's KUBE-KUBELET-CANARY and
	# KUBE-IPTABLES-HINT chains), unless KUBE-* rules predate this cluster.
	if [[ ! -f "$SAVED/kube-rules" || "$(<"$SAVED/kube-rules")" == 0 ]]; then
		command -v iptables >/dev/null && delete_kube_chains iptables
		command -v ip6tables >/dev/null && delete_kube_chains ip6tables
	fi
	drop_new_empty_tables iptables ip "$SAVED/ip4tables"
	drop_new_empty_tables ip6tables ip6 "$SAVED/ip6tables"
}

cleanup_network() {
	ip route del blackhole "$POD_CIDR" metric "$BLACKHOLE_METRIC" 2>/dev/null || true
	ip route del blackhole "$SVC_CIDR" metric "$BLACKHOLE_METRIC" 2>/dev/null || true
	# Leftover pod veths (their namespaces are gone by now) die with them;
	# any still attached to the bridge are removed explicitly.
	local v
	for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link del "$v" 2>/dev/null || true
	done
	ip link del "$BRIDGE" 2>/dev/null || true
	ip link del "$NODE_IF" 2>/dev/null || true # takes the service route along
}

cleanup_cni_cache() {
	# libcni caches results in /var/lib/cni/results (not configurable in
	# containerd 1.6); drop our network's entries (the whole directory goes
	# in remove_host_paths when up created it).
	rm -f /var/lib/cni/results/hoptap-k8s-* 2>/dev/null || true
}

# foreign_network: the interfaces exist and belong to another state dir.
foreign_network() {
	local i a
	for i in "$NODE_IF" "$BRIDGE"; do
		[[ -r /sys/class/net/$i/ifalias ]] || continue
		a=$(</sys/class/net/$i/ifalias)
		[[ -n "$a" && "$a" != "$OWNER" ]] && return 0
	done
	return 1
}

bindir() {
	if [[ -f "$DIR/bindir" ]]; then cat "$DIR/bindir"
	else echo "${XDG_CACHE_HOME:-$HOME/.cache}/hoptap/k8s/$K8S_VERSION"; fi
}

cmd_down() {
	[[ "$(id -u)" == 0 ]] || die "must run as root"
	# Best effort from here on: one step failing must not skip the others.
	set +e
	mkdir -p "$LOGS"
	local n shim
	log "stopping kubelet, kube-proxy, kube-scheduler, kube-controller-manager"
	for n in kubelet kube-proxy kube-scheduler kube-controller-manager; do stop "$n" 15; done
	log "stopping pods and containerd"
	local foreign=
	foreign_network && foreign=1
	if [[ -z "$foreign" ]]; then stop_containers; fi
	stop containerd 15
	for shim in $(our_shims); do kill -KILL "$shim" 2>/dev/null || true; done
	if [[ -z "$foreign" ]]; then kill_pod_processes; fi
	log "stopping kube-apiserver, etcd"
	stop kube-apiserver 15
	stop etcd 15
	# Anything recorded that is not in the list above.
	if [[ -d "$PIDS" ]]; then
		for n in "$PIDS"/*.pid; do [[ -e "$n" ]] && stop "$(basename "$n" .pid)" 5; done
	fi
	unmount_all
	if foreign_network; then
		# Interfaces, iptables chains and the pod cgroup root are per
		# machine: they belong to the cluster of that other directory.
		log "warning: $NODE_IF/$BRIDGE belong to '$(</sys/class/net/$NODE_IF/ifalias)', not to $DIR; leaving the network, iptables and cgroups alone"
	else
		remove_cgroups
		log "removing iptables chains, interfaces and routes"
		cleanup_iptables
		cleanup_network
		cleanup_cni_cache
	fi
	remove_host_paths
	unmount_host_fs
	restore_sysctls
	# Everything but the logs (kept for post-mortems).
	if [[ -d "$DIR" ]]; then
		find "$DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null ||
			log "warning: could not remove all of $DIR"
	fi
	log "down"
}

# ---------------------------------------------------------------- env

cmd_env() {
	local bin
	bin=$(bindir)
	printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_ADMIN"
	# shellcheck disable=SC2016 # $PATH expands in the eval-ing shell
	printf 'export PATH=%q:"$PATH"\n' "$bin"
	printf 'export CONTAINERD_ADDRESS=%q\n' "$SOCK"
	printf 'export CONTAINERD_NAMESPACE=k8s.io\n'
	printf 'export KUBECACHEDIR=%q\n' "$KUBECACHE"
	[[ -f "$KUBECONFIG_ADMIN" ]] || printf 'cluster: note: no cluster is up in %s\n' "$DIR" >&2
}

cmd_import() {
	(($# > 0)) || die "usage: $0 import IMAGE.tar..."
	alive containerd || die "containerd of $DIR is not running"
	import_images "$@"
}

# up and down exclude each other (two test runs starting at once): the lock
# is held on this script itself, so no lock file is left behind.
lock() {
	exec 8<"${BASH_SOURCE[0]}"
	flock -w 300 8 || die "another cluster.sh up/down is still running"
}

case "${1:-}" in
up) lock; cmd_up ;;
down) lock; cmd_down ;;
env) cmd_env ;;
import) shift; cmd_import "$@" ;;
*)
	echo "usage: $0 up|down|env|import IMAGE.tar..." >&2
	exit 2
	;;
esac
