#!/usr/bin/env bash
# Installs what the tests need, only when it is missing: clang, llvm and
# libbpf-dev (make generate), tshark and dumpcap
# (the oracle and the recorder), python3-grpcio (a second gRPC
# implementation), nginx (a gRPC proxy hop) and the official grpc-go interop
# peers. Safe to run again and again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/.tools/bin"
mkdir -p "$bin"

need=()
command -v tshark >/dev/null || need+=(tshark)
command -v dumpcap >/dev/null || need+=(tshark)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v ip >/dev/null || need+=(iproute2)
/usr/bin/python3 -c "import grpc" 2>/dev/null || need+=(python3-grpcio python3-protobuf)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# make generate: clang for the BPF target, llvm-strip, libbpf's headers.
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
[ -f /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

GRPC_VERSION=v1.85.0
stamp="$bin/.grpc-interop-$GRPC_VERSION"
if [ ! -f "$stamp" ] || [ ! -x "$bin/interop-server" ] || [ ! -x "$bin/interop-client" ]; then
	echo "deps: building grpc-go $GRPC_VERSION interop server and client" >&2
	tmp=$(mktemp -d)
	GOFLAGS= GOBIN="$tmp" go install "google.golang.org/grpc/interop/server@$GRPC_VERSION" "google.golang.org/grpc/interop/client@$GRPC_VERSION"
	mv "$tmp/server" "$bin/interop-server"
	mv "$tmp/client" "$bin/interop-client"
	rm -rf "$tmp"
	touch "$stamp"
fi

# go_tool NAME VERSION PACKAGE WHAT: go install PACKAGE@VERSION into
# .tools/bin once per version.
go_tool() {
	local stamp="$bin/.$1-$2"
	if [ ! -f "$stamp" ] || [ ! -x "$bin/$1" ]; then
		echo "deps: building $1 $2 ($4)" >&2
		GOFLAGS= GOBIN="$bin" go install "$3@$2"
		touch "$stamp"
	fi
}
go_tool helm v3.22.0 helm.sh/helm/v3/cmd/helm "renders deploy/helm for the manifest checks"
go_tool promtool v0.316.0 github.com/prometheus/prometheus/cmd/promtool "evaluates the chart's alerts"
