# slabcache — see README.md. `make help` lists the targets.

GO        ?= go
BIN       := bin
ADDR      ?= 127.0.0.1
PORT      ?= 11211
ARGS      ?=
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
STATICCHECK_VERSION := v0.6.1
DEBIAN_PKGS := memcached libmemcached-tools nutcracker python3-pymemcache libcache-memcached-perl libcache-memcached-fast-perl

.PHONY: help build run test test-short bench bench-compare bench-compare-quick bench-hotkeys fuzz lint deps clean memcached-t

help:
	@echo "make build   - build every binary into $(BIN)/"
	@echo "make run     - build and start slabcached on $(ADDR):$(PORT) (ARGS='-m 128 -vv' to add flags)"
	@echo "make test    - install test dependencies where possible, then vet and run all tests (-race, invariants)"
	@echo "make bench   - run the Go benchmarks (BENCHTIME=$(BENCHTIME))"
	@echo "make bench-compare - memcached and slabcached side by side (about 6 min; bench-compare-quick: 20 s), report in bench-out/"
	@echo "make bench-hotkeys - five nodes, Zipf reads through the Go client, hot keys followed three ways and ignored (about 6 min; DURATION=60s REPLICAS=3)"
	@echo "make fuzz    - run every fuzz target for FUZZTIME=$(FUZZTIME)"
	@echo "make memcached-t - memcached's own test suite against slabcached (MEMCACHED_SRC=source tree or tarball; T=protocol|internals|all or file names)"
	@echo "make lint    - gofmt, go vet, staticcheck"
	@echo "make deps    - install the Debian packages the tests use: $(DEBIAN_PKGS)"

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/slabcached -l $(ADDR) -p $(PORT) $(ARGS)

deps:
	@scripts/deps.sh $(DEBIAN_PKGS)

test: deps
	$(GO) vet ./...
	$(GO) test -race -tags invariants -timeout 20m ./...

# Quick loop while developing: no race detector, short mode.
test-short:
	$(GO) test -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

bench-compare: build
	$(GO) run ./cmd/slabbench compare -b-binary $(BIN)/slabcached -out bench-out

bench-compare-quick: build
	$(GO) run ./cmd/slabbench compare -quick -b-binary $(BIN)/slabcached -out bench-out

DURATION ?= 60s
REPLICAS ?= 3
bench-hotkeys: build
	scripts/hotkeys-bench.sh -d $(DURATION) -r $(REPLICAS) -b $(BIN)

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

T ?= protocol
memcached-t:
	scripts/memcached-t.sh $(T)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

clean:
	rm -rf $(BIN)
