# Tessera: the developer entry points. `make demo` and `make test` work on a fresh machine.
GO ?= go
PKGS := ./...

.PHONY: demo setup test check test-unit test-short test-race test-purego fuzz lint fmt vet \
	generate-check cross staticcheck bench deps test-mpi kernels gpu-tests

deps:
	$(GO) mod download

demo: deps
	$(GO) run ./examples/quickstart

# Installs (or names) the Debian packages the tests need; see the script.
setup:
	@bash scripts/setup.sh

# The whole suite, each step timed (scripts/steps.sh prints a table at the end).
TEST_STEPS := setup deps lint test-unit test-purego test-race fuzz test-mpi
test:
	@MAKE="$(MAKE)" bash scripts/steps.sh $(TEST_STEPS)

# The edit-test loop: gofmt, vet and the short tests (slow tests skip under
# -short where a faster variant covers the same code). Under 2 minutes on 2
# cores uncached (make check CHECK_FLAGS=-count=1 to measure it).
CHECK_FLAGS ?=
check:
	@MAKE="$(MAKE)" bash scripts/steps.sh fmt vet test-short

test-short:
	$(GO) test -short $(CHECK_FLAGS) $(PKGS)

# TESSERA_REQUIRE_TORCH=1: the PyTorch cross-checks fail rather than skip
# when torch is missing (the setup step installs python3-torch).
test-unit:
	TESSERA_REQUIRE_TORCH=1 $(GO) test -count=1 $(PKGS)

# The portable (non-assembly) kernels must pass the same tests.
test-purego:
	$(GO) test -count=1 -tags purego ./kernels/... ./tensor/...

# Packages with goroutine concurrency run under the race detector.
RACE_PKGS := ./tensor/... ./nn/... ./amp/... ./data/... ./safetensors/... ./cuda/... ./kernels/... ./collectives/... ./autograd/... ./parallel/... ./profiler/... ./automl/meta/... ./automl/hpo/... ./robust/... ./scaling/...
test-race:
	$(GO) test -count=1 -race $(RACE_PKGS)

# Each parser's fuzz target runs briefly (FUZZTIME per target); a crash fails the build.
FUZZTIME ?= 10s
FUZZ_TARGETS := ./data:FuzzIDX ./data:FuzzCIFAR ./data:FuzzCSV ./data:FuzzNPY ./safetensors:FuzzParse ./checkpoint:FuzzRead
# One target's run, with pkg and name set by the loop below.
FUZZ_ONE = $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		log=$$(mktemp); \
		if $(FUZZ_ONE) >$$log 2>&1; then \
			cat $$log; \
		else \
			cat $$log; \
			if grep -q "Failing input written" $$log; then exit 1; fi; \
			echo "fuzz $$pkg $$name: the engine stopped without a failing input (a worker timed out); once more"; \
			$(FUZZ_ONE); \
		fi; \
		rm -f $$log; \
	done

# The MPI backend's suite under mpirun (needs openmpi-bin and libopenmpi-dev;
# scripts/setup.sh installs them). Every rank runs the same test binary.
MPIRUN ?= mpirun --allow-run-as-root --oversubscribe
MPI_NPS ?= 1 2 3 4
test-mpi:
	@mkdir -p bin
	$(GO) vet -tags mpi ./collectives/... ./bench/collectives ./bench/ddp ./bench/scaling ./bench/zero ./parallel/ddp/mpitest ./parallel/pipeline/mpitest ./parallel/tensorparallel/mpitest ./parallel/zero/mpitest
	$(GO) test -count=1 -tags mpi -c -o bin/collectives-mpi.test ./collectives/mpi
	$(GO) test -count=1 -tags mpi -c -o bin/ddp-mpi.test ./parallel/ddp/mpitest
	$(GO) test -count=1 -tags mpi -c -o bin/pipeline-mpi.test ./parallel/pipeline/mpitest
	$(GO) test -count=1 -tags mpi -c -o bin/tensorparallel-mpi.test ./parallel/tensorparallel/mpitest
	$(GO) test -count=1 -tags mpi -c -o bin/zero-mpi.test ./parallel/zero/mpitest
	@set -e; for np in $(MPI_NPS); do \
		echo "mpirun -np $$np collectives/mpi"; \
		timeout 300 $(MPIRUN) -np $$np bin/collectives-mpi.test -test.count=1; \
		echo "mpirun -np $$np parallel/ddp/mpitest"; \
		timeout 300 $(MPIRUN) -np $$np bin/ddp-mpi.test -test.count=1; \
		echo "mpirun -np $$np parallel/pipeline/mpitest"; \
		timeout 300 $(MPIRUN) -np $$np bin/pipeline-mpi.test -test.count=1; \
		echo "mpirun -np $$np parallel/tensorparallel/mpitest"; \
		timeout 300 $(MPIRUN) -np $$np bin/tensorparallel-mpi.test -test.count=1; \
		echo "mpirun -np $$np parallel/zero/mpitest"; \
		timeout 300 $(MPIRUN) -np $$np bin/zero-mpi.test -test.count=1; \
	done
	# Whole jobs with a faulty rank (the test starts mpirun itself).
	$(GO) test -count=1 -tags mpi -run TestJobFaults ./collectives/mpi

# gofmt, vet, the generated assembly against its generator, the cross builds
# and staticcheck (pinned by the tool directive in go.mod).
lint: fmt vet generate-check cross staticcheck

fmt:
	@fmt_out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt_out" ]; then echo "gofmt needed:"; echo "$$fmt_out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# kernels/cpu's assembly is written by gen_kernels.go: regenerate it and fail
# if anything changed (the tree then holds the regenerated files to commit).
generate-check:
	@before=$$(find kernels/cpu -type f | sort | xargs sha256sum); \
	$(GO) generate ./kernels/cpu || exit 1; \
	after=$$(find kernels/cpu -type f | sort | xargs sha256sum); \
	if [ "$$before" != "$$after" ]; then \
		echo "kernels/cpu: the committed files differ from go generate's output:"; \
		git status --short -- kernels/cpu; exit 1; \
	fi; echo "go generate ./kernels/cpu: no change"

# The portable stubs (no cgo, no amd64 assembly) must build and vet elsewhere.
CROSS := darwin/arm64 linux/arm64
cross:
	@set -e; for t in $(CROSS); do \
		echo "GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 go build + vet ./..."; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) build $(PKGS); \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) vet $(PKGS); \
	done

staticcheck:
	$(GO) tool staticcheck $(PKGS)
	$(GO) tool staticcheck -tags mpi ./collectives/mpi/... ./bench/collectives ./bench/ddp ./bench/scaling ./bench/zero ./parallel/ddp/mpitest ./parallel/pipeline/mpitest

bench:
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./tensor/...

# Regenerate the committed PTX from kernels/cudakernels/*.cu (needs nvcc; see kernels/cudakernels/install-nvcc.sh).
kernels:
	bash kernels/cudakernels/gen.sh

# Build the GPU test and benchmark binaries into .gpu/ and print how to run them on a GPU machine.
gpu-tests:
	bash scripts/gpu-tests.sh

# Course-module figures and tables (docs/modules). Each module adds its own
# figures-<module> prerequisite.
.PHONY: figures figures-robust figures-hpo figures-ddp figures-meta figures-fundamentals figures-pipeline figures-amp
figures: figures-robust figures-hpo figures-ddp figures-meta figures-fundamentals figures-pipeline figures-amp

# Module 4 (docs/modules/4-robust.md): the -quick table, the full grid (IID
# and Dirichlet 0.5, CSV + PNG heatmaps and curves) and the ALIE and
# centered-clipping studies, as Markdown fragments under docs/modules/img/robust.
ROBUST_OUT := docs/modules/img/robust
figures-robust:
	mkdir -p $(ROBUST_OUT)
	$(GO) run ./examples/robust -quick -markdown -csv $(ROBUST_OUT)/quick.csv > $(ROBUST_OUT)/quick.md
	$(GO) run ./examples/robust -splits iid -markdown -csv $(ROBUST_OUT)/grid-iid.csv -png $(ROBUST_OUT) > $(ROBUST_OUT)/grid-iid.md
	$(GO) run ./examples/robust -splits 0.5 -markdown -csv $(ROBUST_OUT)/grid-dir0p5.csv -png $(ROBUST_OUT) > $(ROBUST_OUT)/grid-dir0p5.md
	$(GO) run ./examples/robust -quick -attacks adaptive-ipm,adaptive-alie -markdown > $(ROBUST_OUT)/adaptive.md
	$(GO) run ./examples/robust -quick -momentum -1 -markdown -csv $(ROBUST_OUT)/nomomentum.csv > $(ROBUST_OUT)/nomomentum.md
	$(GO) run ./examples/robust -quick -attacks alie -alie-z formula -markdown > $(ROBUST_OUT)/alie-formula.md
	$(GO) run ./examples/robust -quick -attacks alie -alie-z 5 -markdown > $(ROBUST_OUT)/alie-z5.md
	$(GO) run ./examples/robust -quick -rules cclip -attacks signflip,ipm -tau 1 -markdown > $(ROBUST_OUT)/cclip-tau1.md

# Mixed precision (docs/modules/6-mixed-precision.md): the digits MLP in
# every precision mode (loss curves, JSON rows), and with the loss weighted
# by 1e-5 (float16 underflow with and without loss scaling).
AMP_OUT := docs/modules/img/amp
figures-amp:
	mkdir -p $(AMP_OUT)
	$(GO) run ./examples/amp -modes fp32,bf16,fp16,bf16-master,fp16-master,fp16-noscale -json -png $(AMP_OUT)/loss.png > $(AMP_OUT)/modes.jsonl
	$(GO) run ./examples/amp -loss-weight 1e-5 -modes fp32,bf16,fp16,fp16-noscale,fp16-master,fp16-master-noscale -json -png $(AMP_OUT)/underflow.png > $(AMP_OUT)/underflow.jsonl

# Module 5, part 1 (docs/modules/5-hpo.md): the example's quick study
# (history, intermediate values, slices, CSV) into docs/modules/img/hpo.
figures-hpo:
	$(GO) run ./examples/hpo -quick -out docs/modules/img/hpo

# Module 5, part 2 (docs/modules/5-meta-nas.md): the sine curves and fits
# (examples/maml), the few-shot table (printed) and the NAS search curve,
# cell drawing and Graphviz cells (examples/nas), quick presets, into
# docs/modules/img.
figures-meta:
	$(GO) run ./examples/maml -preset quick -out docs/modules/img
	$(GO) run ./examples/fewshot -preset quick
	$(GO) run ./examples/nas -preset quick -out docs/modules/img

# Module 2 (docs/modules/2-data-parallel.md): the bucket sweep, the strategies
# and one traced step of bench/ddp on in-process ranks, as JSON rows and PNGs
# under docs/modules/img/ddp (timings depend on the machine and its load).
DDP_OUT := docs/modules/img/ddp
figures-ddp:
	mkdir -p $(DDP_OUT)
	$(GO) run ./bench/ddp -ranks 2 -buckets 0.25,1,5,25,100 -json > $(DDP_OUT)/buckets.json
	$(GO) run ./bench/ddp -ranks 2,4 -strategies all -staleness 0,1 -overlap on -json > $(DDP_OUT)/strategies.json
	$(GO) run ./bench/ddp -plot $(DDP_OUT)/buckets.json -png $(DDP_OUT)
	$(GO) run ./bench/ddp -plot $(DDP_OUT)/strategies.json -png $(DDP_OUT)
	$(GO) run ./bench/ddp -ranks 2 -steps 5 -overlap on -trace $(DDP_OUT)/ddp-local2.trace.json > /dev/null
	$(GO) run ./bench/ddp -plot $(DDP_OUT)/ddp-local2.trace.json -png $(DDP_OUT)

# Module 6 (docs/modules/6-zero.md): model-state bytes and traffic per rank
# of DP and ZeRO-1/2/3 at N = 1, 2, 4, 8 (bench/zero, local backend), the
# JSON rows and the two PNGs under docs/modules/img/zero.
ZERO_OUT := docs/modules/img/zero
.PHONY: figures-zero
figures: figures-zero
figures-zero:
	mkdir -p $(ZERO_OUT)
	$(GO) run ./bench/zero -json -plot $(ZERO_OUT) > $(ZERO_OUT)/rows.json

# Module 3, tensor parallelism (docs/modules/3-tensor-parallel.md):
# bench/tensorparallel's rows at TP 1, 2, 4 (sequence parallelism off and
# on) and examples/gpt's quick preset on 1x1x1, 1x2x2 and 2x1x2 (-sp), as
# JSON and the two PNGs under docs/modules/img/tensorparallel (timings
# depend on the machine and its load).
TP_OUT := docs/modules/img/tensorparallel
.PHONY: figures-tensorparallel
figures: figures-tensorparallel
figures-tensorparallel:
	mkdir -p $(TP_OUT)
	$(GO) run ./bench/tensorparallel -steps 9 -reps 3 -json -plot $(TP_OUT) > $(TP_OUT)/rows.json
	$(GO) run ./examples/gpt -quick -json > $(TP_OUT)/gpt-1x1x1.json
	$(GO) run ./examples/gpt -quick -pp 2 -tp 2 -json > $(TP_OUT)/gpt-1x2x2.json
	$(GO) run ./examples/gpt -quick -dp 2 -tp 2 -sp -schedule gpipe -json > $(TP_OUT)/gpt-2x1x2-sp.json
	$(GO) run ./bench/tensorparallel -plot $(TP_OUT) -curves $(TP_OUT)/gpt-1x1x1.json,$(TP_OUT)/gpt-1x2x2.json,$(TP_OUT)/gpt-2x1x2-sp.json

# Module 1 (docs/modules/1-fundamentals.md): the batch-size sweep of
# examples/batchsize (full preset: digits and the generated mixture, SGD /
# LARS / LAMB, CSV, the Markdown table, PNGs) and bench/scaling's cost model
# against measurement (local worlds of 1, 2, 4 ranks and mpirun -np 2, 4,
# alternating; the predicted-vs-measured and scaling PNGs). Timings depend on
# the machine and its load.
FUND_OUT := docs/modules/img/fundamentals
figures-fundamentals:
	mkdir -p $(FUND_OUT)
	$(GO) run ./examples/batchsize -preset full -ddp-ranks 4 -out $(FUND_OUT) -markdown > $(FUND_OUT)/table.md
	REPS=15 OUT=$(FUND_OUT) bash bench/scaling/mpi.sh -steps 24
	$(GO) run ./bench/scaling -summarize $(FUND_OUT)/rows.json -markdown > $(FUND_OUT)/scaling.md
	$(GO) run ./bench/scaling -plot $(FUND_OUT)/rows.json -calib $(FUND_OUT)/cal.json -png $(FUND_OUT)

# Module 3, pipeline part (docs/modules/3-pipeline.md): the bubble sweep
# (p = 2, 4; m = 1..16; GPipe, 1F1B, interleaved v=2) as JSON rows, the
# timelines at p=4, m=8 and the bubble/peak figure.
PIPELINE_OUT := docs/modules/img/pipeline
figures-pipeline:
	mkdir -p $(PIPELINE_OUT)
	$(GO) run ./bench/pipeline -json -steps 7 -fwd 20ms -png $(PIPELINE_OUT) > $(PIPELINE_OUT)/sweep.json
	$(GO) run ./bench/pipeline -plot $(PIPELINE_OUT)/sweep.json -png $(PIPELINE_OUT)
