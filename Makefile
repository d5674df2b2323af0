# connlint — build, run, test. `make run` and `make test` work on a fresh
# Debian machine as root: `deps` installs what is missing (libpcap-dev for
# live capture and BPF filters; python3 and curl for the `connlint run`
# end-to-end test; Go itself must be on PATH).

# Go from the official tarball location when it is not on PATH yet (fresh machine)
export PATH := $(PATH):/usr/local/go/bin
GO        ?= go
BIN       ?= bin/connlint
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
SAMPLE    ?= testdata/lab/nagle-delayed-ack.pcap
# What building needs (libpcap for live capture and BPF, gcc for cgo).
APT_PKGS  := libpcap-dev gcc
# What the tests need besides: tcpdump (the live side-by-side test),
# prometheus (promtool checks the metrics exposition), python3, curl and
# openssl (the `run` end-to-end tests: a python server, HTTPS with a
# self-signed certificate), tshark (pcapng and TLS cross-checks), chromium
# (the HTML report is loaded in a headless browser). Each test skips with a
# message where its tool is missing; `make test` installs them so none does.
TEST_PKGS := tcpdump prometheus python3 curl openssl tshark chromium

.PHONY: all deps test-deps apt build build-nocgo run test test-short vet lint bench fuzz lab clean

all: build

# deps installs system packages only when something is missing.
deps:
	@$(MAKE) --no-print-directory apt PKGS="$(APT_PKGS)"

test-deps: deps
	@$(MAKE) --no-print-directory apt PKGS="$(TEST_PKGS)"

apt:
	@missing=""; \
	for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/connlint

# A build without libpcap: analyze and lint work, sniff says it is unavailable.
build-nocgo:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)-nocgo ./cmd/connlint

run: build
	./$(BIN) analyze $(SAMPLE)

vet:
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...

# staticcheck at a pinned version, installed into bin/tools when missing.
STATICCHECK_VERSION ?= v0.8.2
TOOLS       := $(CURDIR)/bin/tools
STATICCHECK := $(TOOLS)/staticcheck

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# lint: formatting, vet (with and without cgo), staticcheck, a tidy go.mod.
lint: vet $(STATICCHECK)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...
	CGO_ENABLED=0 $(STATICCHECK) ./...
	$(GO) mod tidy -diff

test: test-deps lint
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/connlint
	$(GO) test -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

bench: build
	bash scripts/bench.sh

# Each fuzz target for FUZZTIME (default 1m); CI runs the seed corpora as plain tests.
FUZZTIME ?= 1m
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin

-include testdata/lab/lab.mk
