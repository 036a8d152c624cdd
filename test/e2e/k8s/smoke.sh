#!/usr/bin/env bash
# smoke.sh — checks a cluster started by cluster.sh up, end to end:
#   - a Deployment of the grpc-go interop server behind a ClusterIP Service;
#   - a Job running the grpc-go interop client (large_unary) against the
#     Service's ClusterIP (from the injected INTEROP_SERVICE_HOST: there is
#     no cluster DNS); the Job must succeed;
#   - kubectl logs of both;
#   - kubectl port-forward to the server pod, exercised by the same interop
#     client running on the host;
#   - a normal pod and a hostNetwork pod reaching the API through the
#     kubernetes Service (https://198.19.0.1:443) with their ServiceAccount
#     token (kubectl auth whoami, in-cluster config);
#   - a pod's attempt to reach an address beyond the machine is dropped by
#     cluster.sh's forward filter.
# Everything runs in namespace hoptap-smoke, deleted at the end. The static
# images are built once and cached in ~/.cache/hoptap/k8s/images.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
GRPC_VERSION=${GRPC_VERSION:-v1.85.0}
NS=hoptap-smoke
PF_PORT=${HOPTAP_SMOKE_PF_PORT:-23901} # outside the benchmarks' 10000-10101
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/hoptap/k8s/images"
FWD_CHAIN=HOPTAP-K8S-FWD

log() { printf 'smoke: %s\n' "$*" >&2; }
die() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }

eval "$("$HERE/cluster.sh" env 2>/dev/null)"
kubectl get node >/dev/null 2>&1 || die "no cluster; run $HERE/cluster.sh up first"

# image BINARY NAME:TAG: tarball of a static binary (scripts/image.py).
image() {
	local bin=$1 ref=$2 out
	out="$CACHE/$(basename "$bin")-${ref##*:}.tar"
	[[ -f "$out" ]] || python3 "$REPO/scripts/image.py" "$bin" "$out" "$ref" >&2
	echo "$out"
}

mkdir -p "$CACHE"
GBIN="$CACHE/grpc-$GRPC_VERSION"
if [[ ! -x "$GBIN/interop-server" || ! -x "$GBIN/interop-client" ]]; then
	log "building static grpc-go $GRPC_VERSION interop server and client"
	tmp=$(mktemp -d)
	CGO_ENABLED=0 GOFLAGS='' GOBIN="$tmp" go install -trimpath -ldflags='-s -w' \
		"google.golang.org/grpc/interop/server@$GRPC_VERSION" "google.golang.org/grpc/interop/client@$GRPC_VERSION"
	mkdir -p "$GBIN"
	mv "$tmp/server" "$GBIN/interop-server"
	mv "$tmp/client" "$GBIN/interop-client"
	rm -rf "$tmp"
fi
KUBECTL_IMAGE="hoptap.test/kubectl:$(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | head -n1)"
log "importing images"
"$HERE/cluster.sh" import \
	"$(image "$GBIN/interop-server" "hoptap.test/interop-server:$GRPC_VERSION")" \
	"$(image "$GBIN/interop-client" "hoptap.test/interop-client:$GRPC_VERSION")" \
	"$(image "$(command -v kubectl)" "$KUBECTL_IMAGE")"

PF_PID=
cleanup() {
	[[ -z "$PF_PID" ]] || kill "$PF_PID" 2>/dev/null || true
	kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
}
trap cleanup EXIT

kubectl create namespace "$NS" >/dev/null
for ((i = 0; i < 100; i++)); do
	kubectl -n "$NS" get serviceaccount default >/dev/null 2>&1 && break
	sleep 0.1
done

log "deploying interop server + Service"
kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: interop-server}
spec:
  replicas: 1
  selector: {matchLabels: {app: interop-server}}
  template:
    metadata: {labels: {app: interop-server}}
    spec:
      containers:
      - name: server
        image: hoptap.test/interop-server:$GRPC_VERSION
        imagePullPolicy: Never
        args: ["--port=50051"]
        env: [{name: GRPC_GO_LOG_SEVERITY_LEVEL, value: info}]
        ports: [{containerPort: 50051}]
        readinessProbe: {tcpSocket: {port: 50051}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: interop}
spec:
  selector: {app: interop-server}
  ports: [{name: grpc, port: 50051, targetPort: 50051}]
EOF
kubectl -n "$NS" rollout status deployment/interop-server --timeout=60s >&2 ||
	die "server did not become ready: $(kubectl -n "$NS" describe pods | tail -n 20)"
kubectl -n "$NS" get pods,svc -o wide >&2

log "running interop client Job (large_unary via the ClusterIP)"
kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: interop-client}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: client
        image: hoptap.test/interop-client:$GRPC_VERSION
        imagePullPolicy: Never
        args: ["--server_host=\$(INTEROP_SERVICE_HOST)", "--server_port=\$(INTEROP_SERVICE_PORT)", "--test_case=large_unary"]
        env: [{name: GRPC_GO_LOG_SEVERITY_LEVEL, value: info}]
EOF
kubectl -n "$NS" wait --for=condition=complete job/interop-client --timeout=60s >&2 || {
	kubectl -n "$NS" logs job/interop-client >&2 || true
	die "interop client Job did not complete"
}
log "client logs:"
kubectl -n "$NS" logs job/interop-client >&2
log "server logs:"
kubectl -n "$NS" logs deployment/interop-server >&2

log "port-forward 127.0.0.1:$PF_PORT -> interop-server:50051, interop client on the host"
kubectl -n "$NS" port-forward --address 127.0.0.1 deployment/interop-server "$PF_PORT:50051" >"${KUBECONFIG%/*}/logs/smoke-port-forward.log" 2>&1 &
PF_PID=$!
for ((i = 0; i < 100; i++)); do
	grep -q 'Forwarding from' "${KUBECONFIG%/*}/logs/smoke-port-forward.log" && break
	kill -0 "$PF_PID" 2>/dev/null || die "kubectl port-forward exited: $(cat "${KUBECONFIG%/*}/logs/smoke-port-forward.log")"
	sleep 0.1
done
GRPC_GO_LOG_SEVERITY_LEVEL=info timeout 30 "$GBIN/interop-client" --server_host=127.0.0.1 --server_port="$PF_PORT" --test_case=large_unary >&2 ||
	die "interop client through port-forward failed"
kill "$PF_PID" 2>/dev/null || true
wait "$PF_PID" 2>/dev/null || true
PF_PID=

log "pods (normal and hostNetwork) reach the API at the kubernetes Service"
for hn in false true; do
	kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: api-hostnet-$hn}
spec:
  hostNetwork: $hn
  restartPolicy: Never
  containers:
  - name: kubectl
    image: $KUBECTL_IMAGE
    imagePullPolicy: Never
    args: ["auth", "whoami"]
EOF
done
for hn in false true; do
	kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded "pod/api-hostnet-$hn" --timeout=60s >/dev/null || {
		kubectl -n "$NS" logs "pod/api-hostnet-$hn" >&2 || true
		die "pod api-hostnet-$hn could not reach the API"
	}
	log "hostNetwork=$hn pod $(kubectl -n "$NS" get pod "api-hostnet-$hn" -o jsonpath='{.status.podIP}'):"
	kubectl -n "$NS" logs "pod/api-hostnet-$hn" >&2
done
log "a pod cannot reach beyond the machine (203.0.113.1 via the default route)"
drops() { iptables -w -t mangle -L "$FWD_CHAIN" -nvx | awk '$3 == "DROP" {n += $1} END {print n + 0}'; }
before=$(drops)
kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: egress}
spec:
  restartPolicy: Never
  containers:
  - name: kubectl
    image: $KUBECTL_IMAGE
    imagePullPolicy: Never
    args: ["--server=https://203.0.113.1:443", "--token=none", "--insecure-skip-tls-verify", "--request-timeout=3s", "get", "--raw", "/"]
EOF
kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Failed pod/egress --timeout=60s >/dev/null ||
	die "pod egress did not fail: $(kubectl -n "$NS" logs pod/egress 2>&1)"
after=$(drops)
((after > before)) || die "no packet hit the $FWD_CHAIN drop rules ($before -> $after)"
log "egress pod failed as it should ($(kubectl -n "$NS" logs pod/egress 2>&1 | tail -n1)); forward drops $before -> $after"
log "PASS"
