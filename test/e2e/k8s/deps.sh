#!/usr/bin/env bash
# Installs from Debian apt what test/e2e/k8s/cluster.sh needs, only when it
# is missing: etcd, containerd + runc, the CNI plugins, conntrack, iptables,
# nftables, openssl (and iproute2, util-linux for nsenter/flock, python3 for
# scripts/image.py). Safe to run again and again; with everything present it
# does nothing and touches no network.
#
# socat is NOT needed: kubelet 1.35 hands port-forward to the CRI, and
# containerd 1.6's CRI plugin dials the port from inside the pod's network
# namespace itself (no socat, no nsenter).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/usr/bin/$1" ]]; }
have etcd || need+=(etcd-server)
have containerd || need+=(containerd)
have ctr || need+=(containerd)
have runc || need+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] ||
	need+=(containernetworking-plugins)
have conntrack || need+=(conntrack)
have iptables || need+=(iptables)
have iptables-save || need+=(iptables)
# nft: cluster.sh down deletes the (then empty) iptables-nft tables that
# kube-proxy and kubelet created, so the ruleset ends as it began.
have nft || need+=(nftables)
have openssl || need+=(openssl)
have ip || need+=(iproute2)
have nsenter || need+=(util-linux)
have flock || need+=(util-linux)
have python3 || need+=(python3)

if ((${#need[@]} > 0)); then
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	if [[ "$(id -u)" != 0 ]]; then
		echo "k8s-deps: missing ${need[*]}; run as root or: apt-get install ${need[*]}" >&2
		exit 1
	fi
	echo "k8s-deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# policy-rc.d 101: the packages' postinst must not start a system-wide
	# etcd or containerd (there is no systemd here, but sysvinit scripts
	# would still run); cluster.sh starts private instances itself.
	prc=/usr/sbin/policy-rc.d
	created_prc=
	if [[ ! -e "$prc" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$prc"
		chmod 755 "$prc"
		created_prc=1
	fi
	rc=0
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || rc=$?
	[[ -n "$created_prc" ]] && rm -f "$prc"
	((rc == 0)) || { echo "k8s-deps: apt-get install failed ($rc)" >&2; exit "$rc"; }
fi
