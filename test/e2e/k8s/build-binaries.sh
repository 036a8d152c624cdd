#!/usr/bin/env bash
# Builds the upstream Kubernetes binaries a single-node test cluster needs
# (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubectl) from the Go module proxy, and caches them in
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/hoptap/k8s/$K8S_VERSION/
#
# On success the cache directory is printed on stdout (so callers can write
# bin=$(test/e2e/k8s/build-binaries.sh)); progress goes to stderr. When all
# binaries are already cached the script only prints the directory.
#
# Environment:
#   K8S_VERSION  Kubernetes release to build (default v1.35.4).
#   GOTOOLCHAIN  default "local": the Go on PATH builds, nothing is downloaded.
#                Set e.g. GOTOOLCHAIN=go1.27.0 if the release needs a newer Go.
#
# The first build takes several minutes (about 7 on 2 cores); it needs only
# the Go module proxy, no git checkout of kubernetes/kubernetes.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

log() { printf 'build-binaries: %s\n' "$*" >&2; }
die() { printf 'build-binaries: error: %s\n' "$*" >&2; exit 1; }

# The staging modules (k8s.io/api, k8s.io/client-go, ...) are published with
# the same minor and patch as the release, under major version 0:
# v1.35.4 -> v0.35.4 (a pre-release suffix such as -rc.0 carries over).
[[ "$K8S_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)(-[0-9A-Za-z.-]+)?$ ]] ||
	die "K8S_VERSION must look like v1.35.4, got '$K8S_VERSION'"
K8S_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}${BASH_REMATCH[3]}"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/hoptap/k8s"
CACHE_DIR="$CACHE_ROOT/$K8S_VERSION"

cached() {
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x "$CACHE_DIR/$b" ]] || return 1
	done
}

if cached; then
	echo "$CACHE_DIR"
	exit 0
fi

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$CACHE_ROOT" || die "cannot create $CACHE_ROOT"

# Two test runs may start at once; the second waits for the first build
# instead of doing it again, then finds the binaries cached.
exec 9>"$CACHE_ROOT/.lock"
if command -v flock >/dev/null; then
	flock 9
	if cached; then
		echo "$CACHE_DIR"
		exit 0
	fi
fi

# The throwaway module lives in a temp dir, far from the hoptap module, so
# none of this touches hoptap's go.mod/go.sum. The binaries are built into a
# second temp dir next to the cache, so that the final rename is atomic and a
# failed or interrupted build never leaves a partial cache behind.
MODDIR="$(mktemp -d "${TMPDIR:-/tmp}/hoptap-k8s-build.XXXXXX")"
OUTDIR="$(mktemp -d "$CACHE_ROOT/.$K8S_VERSION.XXXXXX")"
trap 'rm -rf "$MODDIR" "$OUTDIR"' EXIT

# GOWORK=off: a go.work in some parent of TMPDIR must not pull in other
# modules. -mod=mod: the throwaway module starts without a go.sum, and go
# build may add requirements and checksums as it resolves the graph.
# GOTOOLCHAIN=local: never download a Go toolchain behind the user's back.
export GO111MODULE=on GOWORK=off GOFLAGS=-mod=mod
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
cd "$MODDIR"

log "resolving k8s.io/kubernetes@$K8S_VERSION (staging modules $STAGING_VERSION) ..."
go mod init hoptap-k8s-build >/dev/null 2>&1 || die "go mod init failed in $MODDIR"

# k8s.io/kubernetes's go.mod tells which Go it needs and which k8s.io/*
# modules are staging modules (replaced by ./staging/src/k8s.io/... in the
# kubernetes repository). Replace directives of a dependency are ignored, so
# each staging module must be redirected to its published version here;
# otherwise the build resolves them at the placeholder v0.0.0, which does
# not exist. The list comes from the release's own go.mod because it changes
# between releases (new staging repositories appear).
GOMOD="$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$K8S_VERSION" 2>"$MODDIR/err")" ||
	die "cannot fetch k8s.io/kubernetes@$K8S_VERSION from the module proxy: $(tr '\n\t' '  ' <"$MODDIR/err" | tr -s ' ')"
[[ -f "$GOMOD" ]] || die "go list gave no go.mod for k8s.io/kubernetes@$K8S_VERSION"

need_go="$(go mod edit -json "$GOMOD" | sed -nE 's/^\t"Go": "([^"]+)",?$/\1/p')"
have_go="$(go env GOVERSION)"; have_go="${have_go#go}"
if [[ -n "$need_go" && "$GOTOOLCHAIN" == local ]] &&
	[[ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" != "$need_go" ]]; then
	die "k8s.io/kubernetes@$K8S_VERSION needs go >= $need_go, this is go $have_go (set GOTOOLCHAIN=go$need_go to let go fetch it)"
fi

# Matches both "k8s.io/x => ./staging/..." inside a replace ( ... ) block
# and the single-line form "replace k8s.io/x => ./staging/...".
mapfile -t STAGING < <(sed -nE \
	's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' "$GOMOD")
((${#STAGING[@]} > 0)) || die "no staging replace directives found in $GOMOD"
log "redirecting ${#STAGING[@]} staging modules to $STAGING_VERSION"

edits=(-require="k8s.io/kubernetes@$K8S_VERSION")
for m in "${STAGING[@]}"; do
	edits+=(-replace="$m=$m@$STAGING_VERSION")
done
# A godebug directive (1.35: "godebug default=go1.25") only counts in the
# main module, so restate the release's own: the binaries then get the same
# GODEBUG defaults as upstream builds, not those of the local Go.
mapfile -t GODEBUG_SETTINGS < <(awk '
	/^godebug[[:space:]]*\($/ { inblock = 1; next }
	inblock && /^\)/ { inblock = 0; next }
	inblock && NF { print $1 }
	/^godebug[[:space:]]+[^(]/ { print $2 }' "$GOMOD")
for g in "${GODEBUG_SETTINGS[@]}"; do
	edits+=(-godebug="$g")
done
go mod edit "${edits[@]}"

# Flags as in upstream release builds (hack/lib/golang.sh, hack/lib/version.sh):
# - version variables, otherwise every binary says v0.0.0-master and the
#   compatibility-version logic in component-base treats it as unreleased;
#   client-go has its own copy, which kubectl reports as its client version;
# - -s -w and -trimpath: no symbol table or DWARF (much smaller, faster to
#   link), no build paths; panics still print function names and lines;
# - tags selinux,notest,grpcnotrace: the same code paths as released binaries
#   (grpcnotrace drops golang.org/x/net/trace from grpc);
# - CGO_ENABLED=0: static binaries, no C toolchain needed. Upstream links all
#   of these statically except kubelet, which needs no cgo on Linux either.
ldflags="-s -w"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$K8S_VERSION"
	ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
	# The module proxy does not tell the release's commit; an empty one beats
	# the "$Format:%H$" placeholder left in the source.
	ldflags+=" -X $pkg.gitCommit="
	ldflags+=" -X $pkg.buildDate=$build_date"
done
export CGO_ENABLED=0

start=$SECONDS
for b in "${BINARIES[@]}"; do
	# All six live in k8s.io/kubernetes/cmd (kubectl's main package there is a
	# thin wrapper around k8s.io/kubectl). The first build also downloads the
	# dependency modules; later ones reuse the Go build cache.
	log "building $b ..."
	t=$SECONDS
	go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
		-o "$OUTDIR/$b" "k8s.io/kubernetes/cmd/$b" ||
		die "go build of k8s.io/kubernetes/cmd/$b@$K8S_VERSION failed (see above)"
	log "built $b in $((SECONDS - t))s"
done

# Cheap sanity check before caching: a binary that does not report the
# release it was built as means the -X flags missed (e.g. a renamed package).
for b in "${BINARIES[@]}"; do
	if [[ "$b" == kubectl ]]; then out="$("$OUTDIR/$b" version --client 2>&1)" || true
	else out="$("$OUTDIR/$b" --version 2>&1)" || true
	fi
	[[ "$out" == *"$K8S_VERSION"* ]] ||
		die "$b reports '$(head -n1 <<<"$out")', expected $K8S_VERSION"
done

chmod 755 "$OUTDIR"
rm -rf "$CACHE_DIR"
mv "$OUTDIR" "$CACHE_DIR"
log "built ${#BINARIES[@]} binaries in $((SECONDS - start))s, cached in $CACHE_DIR"
echo "$CACHE_DIR"
