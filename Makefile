# hoptap — see README.md. `make run` and `make test` are the two commands.
GO       ?= go
BIN      := bin/hoptap
TOOLS    := $(CURDIR)/.tools/bin
FUZZTIME ?= 20s
FILE     ?= testdata/golden/interop.pcapng
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/hoptap/hoptap/cmd/hoptap/view.version=$(VERSION)

export PATH := $(TOOLS):$(PATH)

.PHONY: all build run run-agent image manifests read test unit e2e-k8s lint deps fuzz bench-read bench-capture bench-agent ab pgo generate check-generate clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hoptap
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hoptap-agent ./cmd/hoptap-agent

# deploy/kubernetes: the same arguments in deploy/deploy_test.go.
MANIFEST_AGENT      := --set createNamespace=true --set serviceMonitor.enabled=false --set prometheusRule.enabled=false
MANIFEST_MONITORING := --show-only templates/monitoring.yaml --set serviceMonitor.enabled=true --set prometheusRule.enabled=true
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)
ARGS     ?=

## run: build hoptap and capture live on this host (ARGS=..., e.g. ARGS="--port 50051 --calls")
run: build
	$(SUDO) ./$(BIN) capture $(ARGS)

## image: the agent's image, a static binary on scratch, as a docker-archive (bin/hoptap-agent-image.tar; no registry, no container tool)
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/image/hoptap-agent ./cmd/hoptap-agent
	python3 scripts/image.py bin/image/hoptap-agent bin/hoptap-agent-image.tar hoptap/hoptap-agent:0.1.0

## manifests: render deploy/kubernetes/ from the Helm chart: the agent, and the Prometheus operator's objects apart (needs helm: make deps)
manifests:
	./.tools/bin/helm template hoptap deploy/helm/hoptap --namespace hoptap $(MANIFEST_AGENT) > deploy/kubernetes/hoptap-agent.yaml
	./.tools/bin/helm template hoptap deploy/helm/hoptap --namespace hoptap $(MANIFEST_MONITORING) > deploy/kubernetes/hoptap-monitoring.yaml

## run-agent: build and run the node agent on this host (ARGS=..., metrics on :9464)
run-agent: build
	$(SUDO) ./bin/hoptap-agent $(ARGS)

## read: decode a capture file (FILE=..., default: the bundled grpc-go interop capture)
read: build
	./$(BIN) read --calls $(FILE)

## test: install what the tests need, lint, then run every test, the real-cluster e2e last
test: deps lint check-generate
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory e2e-k8s

## e2e-k8s: a real single-node Kubernetes (test/e2e/k8s/cluster.sh), hoptap installed from deploy/, traced end to end (root)
e2e-k8s: deps build image
	HOPTAP_E2E_K8S=1 $(GO) test -count=1 -timeout 25m -v -run TestCluster ./test/e2e/k8s/

## generate: rebuild the eBPF objects and their Go bindings (bpf2go, clang from Debian)
generate:
	$(GO) build -o $(TOOLS)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o $(TOOLS)/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(GO) generate ./bpf/... ./agent/api/...

## check-generate: fail when the committed eBPF objects or API code differ from a rebuild
check-generate: generate
	@if ! git diff --quiet -- bpf/ agent/api/ || [ -n "$$(git ls-files --others --exclude-standard -- bpf/ agent/api/)" ]; then \
	  echo "generated code is stale (bpf2go output, agent API); run 'make generate' and commit:"; git status --short -- bpf/ agent/api/; exit 1; fi

unit:
	$(GO) test -count=1 -short ./...

deps:
	@./scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; done

## bench-read: hoptap read -o json vs tshark on a recorded capture of unary calls, at 1x and 4x
bench-read: build
	@HOPTAP=$(CURDIR)/$(BIN) ./scripts/bench-read.sh

## ab: two builds on the same traffic at once, CPU per call and B/A per round (root): make ab A=old-binary B=new-binary [AB_MODE=capture]
ab: deps
	@./scripts/ab.sh $(A) $(B)

## pgo: record live traffic and profile the agent's pipeline and the decoder into cmd/*/default.pgo, the profile go build optimises with (root)
pgo: build deps
	@HOPTAP=$(CURDIR)/$(BIN) ./scripts/pgo.sh

## bench-agent: the node agent's CPU per 1,000 calls (vs hoptap capture) and RSS per 1,000 idle connections (root)
bench-agent: build deps
	@HOPTAP=$(CURDIR)/$(BIN) HOPTAP_AGENT=$(CURDIR)/bin/hoptap-agent ./scripts/bench-agent.sh

## bench-capture: ghz against the interop server across two namespaces, capture off vs on in rounds and by turns within runs (root, ~30 min)
bench-capture: build deps
	@HOPTAP=$(CURDIR)/$(BIN) ./scripts/bench-capture.sh

clean:
	rm -rf bin .tools
