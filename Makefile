# Tessera: the developer entry points. `make demo` and `make test` work on a fresh machine.
GO ?= go
PKGS := ./...

.PHONY: demo test test-unit test-race test-purego fuzz lint bench deps

deps:
	$(GO) mod download

demo: deps
	$(GO) run ./examples/tour

test: deps lint test-unit test-purego test-race fuzz

test-unit:
	$(GO) test -count=1 $(PKGS)

# The portable (non-assembly) kernels must pass the same tests.
test-purego:
	$(GO) test -count=1 -tags purego ./kernels/... ./tensor/...

# Packages with goroutine concurrency run under the race detector.
test-race:
	$(GO) test -count=1 -race ./tensor/...

# Each parser's fuzz target runs briefly (FUZZTIME per target).
FUZZTIME ?= 10s
fuzz:
	@echo "fuzz targets: none yet"

lint:
	@fmt_out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt_out" ]; then echo "gofmt needed:"; echo "$$fmt_out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./tensor/...
