# plasmo: the one build. `make help` lists the targets.
# Objects go under $(BUILD)/ (default build/); several builds (sanitizers, aarch64) live side by side.

# Build on every core unless the caller chose: `make demo` on a fresh clone compiles everything first.
ifeq ($(filter -j%,$(MAKEFLAGS)),)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

BUILD    ?= build
CXX      ?= g++
OPT      ?= -O2
SAN      ?=
ARCH     ?= $(shell uname -m)
PREFIX   ?= /usr/local
FUZZ_SECONDS ?= 60

CPPFLAGS += -I. -MMD -MP
CXXFLAGS ?= $(OPT)
CXXFLAGS += -std=c++17 -Wall -Wextra -Wshadow -Wno-unused-parameter -fno-math-errno
# Never fuse a*b+c behind our back (GCC does by default on AArch64 and with -mfma, intrinsics included):
# same bits on every machine for the scalar references, the data loader vs the inference core, and the
# SIMD kernels that promise bit-exact parity. Kernels that want FMA call fmadd/vfmaq explicitly.
CXXFLAGS += -ffp-contract=off
LDLIBS   += -lpthread
ifneq ($(SAN),)
  # -fno-sanitize-recover: the first report aborts the run, so a sanitizer finding fails `make test`.
  CXXFLAGS += -g -fno-omit-frame-pointer -fsanitize=$(SAN) -fno-sanitize-recover=all
  LDFLAGS  += -fsanitize=$(SAN)
  TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
endif
# Set by `make fuzz` for its own sub-make: the library gets libFuzzer's coverage instrumentation.
ifneq ($(FUZZING),)
  CXXFLAGS += -fsanitize=fuzzer-no-link
endif

# Debian packages the build, the tests and the demo need. Every target runs `deps` first (order-only),
# which installs only what is missing.
DEPS_PKGS := g++ make libstb-dev doctest-dev
# ... and those of the developer targets, installed only when one of them runs.
FUZZ_PKGS   := clang libclang-rt-dev
FORMAT_PKGS := clang-format
LINT_PKGS   := cppcheck

# Cross build for aarch64 (make test-arm): the Debian cross compiler and qemu-user to run the tests.
# Header-only host packages (doctest, stb) are not on the cross compiler's search path: a folder of
# links to them is.
HOST_ARCH := $(shell uname -m)
ifeq ($(ARCH),aarch64)
  ifneq ($(HOST_ARCH),aarch64)
    DEPS_PKGS += g++-aarch64-linux-gnu qemu-user
    CPPFLAGS  += -isystem $(BUILD)/host-include
    CROSS_INCLUDE := $(BUILD)/host-include/.linked
  endif
endif

# ---- sources ----------------------------------------------------------------------------------------
ENGINE_SRC := $(wildcard engine/*.cpp engine/layers/*.cpp engine/io/*.cpp engine/kernels/*.cpp \
                         engine/kernels/ref/*.cpp)
ifeq ($(ARCH),aarch64)
  ISA_SRC := $(wildcard engine/kernels/neon/*.cpp)
else
  AVX2_SRC   := $(wildcard engine/kernels/avx2/*.cpp)
  AVX512_SRC := $(wildcard engine/kernels/avx512/*.cpp)
  ISA_SRC    := $(AVX2_SRC) $(AVX512_SRC)
endif
LIB_SRC  := $(ENGINE_SRC) $(ISA_SRC) $(wildcard models/*.cpp data_loader/*.cpp train/*.cpp eval/*.cpp)
CLI_SRC  := $(filter-out cli/infer_main.cpp,$(wildcard cli/*.cpp))
TEST_SRC := $(wildcard tests/*.cpp)
# Every fuzz/fuzz_<name>.cpp is a libFuzzer target; dropping in a new one needs no Makefile change.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.cpp)

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))
LIB_OBJ  := $(call obj,$(LIB_SRC))
CLI_OBJ  := $(call obj,$(CLI_SRC))
TEST_OBJ := $(call obj,$(TEST_SRC))
LIB      := $(BUILD)/libplasmo.a
PLASMO   := $(BUILD)/plasmo
TESTS    := $(BUILD)/plasmo-tests
FUZZ_OBJ := $(call obj,$(FUZZ_SRC))
FUZZ_BIN := $(patsubst fuzz/%.cpp,$(BUILD)/%,$(FUZZ_SRC))

# stb_image_write's JPEG writer shifts negative ints (defined in C++20, UB before), and stb_image 2.27's
# JPEG entropy decoder lets its bit count go negative on corrupt data and then shifts by 32 or more
# (stbi__grow_buffer_unsafe; found by `make fuzz`, input in fuzz/corpus/decode/; stb 2.28 checks the bit
# count). Its progressive DC decoder also sums a corrupt file's DC deltas past INT_MAX (dc_pred + diff,
# then dc << succ_low in stbi__jpeg_decode_block_prog_dc; stb 2.28 refuses such a file). Both only
# scramble bits of a file that is garbage anyway: x86 and ARM mask the shift count, and -fwrapv makes the
# overflow a defined wrap in every build of the two files that compile stb_image. Not ours to fix, so
# UBSan's shift and signed-overflow checks are off for those files only; ASan and every other check stay.
STB_IMAGE_OBJ := $(call obj,data_loader/stb_image_impl.cpp cli/infer_main.cpp)
$(STB_IMAGE_OBJ): CXXFLAGS += -fwrapv
ifneq ($(SAN),)
$(BUILD)/obj/data_loader/stb_image_write_impl.o: CXXFLAGS += -fno-sanitize=shift
$(STB_IMAGE_OBJ): CXXFLAGS += -fno-sanitize=shift,signed-integer-overflow
endif
# Only the ISA-specific kernel files get ISA flags, so the binary still runs on a CPU without them.
$(BUILD)/obj/engine/kernels/avx2/%.o:   ISAFLAGS := -mavx2 -mfma
$(BUILD)/obj/engine/kernels/avx512/%.o: ISAFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2

# The inference core (engine/infer/, docs/deploy.md) is built apart from the engine: without exceptions or
# RTTI, never fusing a*b+c (the same bits on x86, AArch64 and Cortex-M), one section per function so
# plasmo-infer keeps only what it calls; it goes into its own library that plasmo, the tests and
# plasmo-infer link. plasmo-infer is linked by the C driver: libc and libm only, no libstdc++.
INFER_SRC       := $(wildcard engine/infer/*.cpp)
INFER_OBJ       := $(call obj,$(INFER_SRC))
INFER_LIB       := $(BUILD)/libplasmo-infer.a
INFER_FLAGS     := -fno-exceptions -fno-rtti -ffp-contract=off -ffunction-sections -fdata-sections
INFER_MAIN_OBJ  := $(call obj,cli/infer_main.cpp)
PLASMO_INFER    := $(BUILD)/plasmo-infer
# `plasmo export` writes the core's sources: make embeds them as string literals.
INFER_EMBED     := $(BUILD)/gen/infer_sources.cpp
INFER_EMBED_OBJ := $(BUILD)/obj/gen/infer_sources.o
$(INFER_OBJ) $(INFER_MAIN_OBJ): ISAFLAGS := $(INFER_FLAGS)

.PHONY: all deps test test-isa test-arm demo clean install help format format-check lint fuzz fuzz-run plasmo-infer infer-static bench bench-deps
all: $(PLASMO) $(TESTS) $(PLASMO_INFER)

deps:
	@scripts/deps.sh $(DEPS_PKGS)

$(BUILD)/host-include/.linked:
	@mkdir -p $(@D)
	ln -sfn /usr/include/doctest $(@D)/doctest
	ln -sfn /usr/include/stb $(@D)/stb
	@touch $@

$(BUILD)/obj/%.o: %.cpp | deps $(CROSS_INCLUDE)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(ISAFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(PLASMO): $(CLI_OBJ) $(INFER_EMBED_OBJ) $(LIB) $(INFER_LIB)
	$(CXX) $(LDFLAGS) $(CLI_OBJ) $(INFER_EMBED_OBJ) $(LIB) $(INFER_LIB) $(LDLIBS) -o $@

$(TESTS): $(TEST_OBJ) $(LIB) $(INFER_LIB)
	$(CXX) $(LDFLAGS) $(TEST_OBJ) $(LIB) $(INFER_LIB) $(LDLIBS) -o $@

# ---- the inference core, plasmo-infer, the C export, the firmware (docs/deploy.md) -----------------------
$(INFER_LIB): $(INFER_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(PLASMO_INFER): $(INFER_MAIN_OBJ) $(INFER_LIB)
	$(CC) $(LDFLAGS) -Wl,--gc-sections -s $^ -lm -o $@

plasmo-infer: $(PLASMO_INFER)

# A fully static plasmo-infer (no shared libraries at all).
infer-static: $(BUILD)/plasmo-infer-static
$(BUILD)/plasmo-infer-static: $(INFER_MAIN_OBJ) $(INFER_LIB)
	$(CC) -static $(LDFLAGS) -Wl,--gc-sections -s $^ -lm -o $@

# Each engine/infer/ file as {"name", "text"}: sed escapes backslashes and quotes and wraps each line.
$(INFER_EMBED): $(sort $(wildcard engine/infer/*.h engine/infer/*.cpp)) Makefile
	@mkdir -p $(@D)
	@{ echo '// Generated by make from engine/infer/: the inference core sources `plasmo export` writes.'; \
	  echo 'namespace plasmo::cli {'; \
	  echo 'struct EmbeddedFile { const char* name; const char* text; };'; \
	  echo 'extern const EmbeddedFile kInferSources[] = {'; \
	  for file in $(filter engine/%,$^); do \
	    echo "{\"$$(basename $$file)\","; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $$file; \
	    echo '},'; \
	  done; \
	  echo '};'; \
	  echo 'extern const int kInferSourceCount = sizeof kInferSources / sizeof kInferSources[0];'; \
	  echo '}  // namespace plasmo::cli'; } > $@.tmp && mv $@.tmp $@

$(INFER_EMBED_OBJ): $(INFER_EMBED)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# ---- firmware (examples/firmware/): the exported autoencoder on a Cortex-M4F under QEMU ------------------
# make firmware        builds $(FW_ELF) and prints its footprint (fails above flash 64 KB / RAM 96 KB)
# make firmware-run    runs it under qemu-system-arm: one probability per test cell
# make firmware-check  runs it and compares each probability with plasmo predict's and plasmo-infer's on
#                      the same PNG (1e-4)
# FW_MODEL=FILE uses another autoencoder model file (default: the trained one in models/pretrained/;
# FW_MODEL=$(BUILD)/firmware/autoencoder.safetensors is a deterministic random-weight one).
FW_DIR        := $(BUILD)/firmware
FW_ELF        := $(FW_DIR)/plasmo-firmware.elf
FW_PKGS       := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
FW_MODEL      ?= models/pretrained/autoencoder.safetensors
FW_CELL_COUNT ?= 8
FW_NATIVE     ?= 2
FW_ARCH_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
FW_CFLAGS     := $(FW_ARCH_FLAGS) -Os -ffunction-sections -fdata-sections -ffp-contract=off -Wall -Wextra -Werror
FW_LDFLAGS    := $(FW_ARCH_FLAGS) -nostartfiles --specs=nano.specs --specs=rdimon.specs \
                 -T examples/firmware/mps2_an386.ld -Wl,--gc-sections
FW_QEMU       := timeout 300 qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel $(FW_ELF)

.PHONY: firmware firmware-run firmware-check firmware-deps FORCE
FORCE:
firmware-deps:
	@scripts/deps.sh $(FW_PKGS)

$(FW_DIR)/random_model: examples/firmware/host/random_model.cpp $(call obj,tests/test_infer_util.cpp) $(LIB) $(INFER_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $^ $(LDLIBS) -o $@

$(FW_DIR)/cells_to_c: examples/firmware/host/cells_to_c.cpp $(INFER_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $^ -o $@

# The random model and the test cells (PNGs from `plasmo synth`, never dataset images), written once.
$(FW_DIR)/inputs.stamp: $(FW_DIR)/random_model $(PLASMO)
	rm -rf $(FW_DIR)/cells
	$(FW_DIR)/random_model $(FW_DIR)/autoencoder.safetensors
	$(PLASMO) synth --out $(FW_DIR)/cells --count $(FW_CELL_COUNT) --seed 7 --quiet
	touch $@

# FW_MODEL's value, rewritten only when it changes: switching models re-exports.
$(FW_DIR)/model.path: FORCE
	@mkdir -p $(@D)
	@echo '$(FW_MODEL)' | cmp -s - $@ || echo '$(FW_MODEL)' > $@

$(FW_DIR)/export.stamp: $(PLASMO) $(FW_DIR)/inputs.stamp $(FW_DIR)/model.path \
                        $(filter-out $(FW_DIR)/autoencoder.safetensors,$(FW_MODEL))
	rm -rf $(FW_DIR)/export
	$(PLASMO) export --model $(FW_MODEL) --c $(FW_DIR)/export
	touch $@

$(FW_DIR)/cells.h: $(FW_DIR)/cells_to_c $(FW_DIR)/inputs.stamp
	$(FW_DIR)/cells_to_c $@ 32 $(FW_NATIVE) $(sort $(wildcard $(FW_DIR)/cells/*/*.png))

FW_SOURCES := examples/firmware/main.c examples/firmware/startup.c examples/firmware/mps2_an386.ld
$(FW_ELF): $(FW_DIR)/export.stamp $(FW_DIR)/cells.h $(FW_SOURCES) | firmware-deps
	@rm -rf $(FW_DIR)/obj && mkdir -p $(FW_DIR)/obj
	cd $(FW_DIR)/obj && for file in ../export/*.cpp; do \
	  arm-none-eabi-g++ $(FW_CFLAGS) -std=c++17 -fno-exceptions -fno-rtti -c $$file || exit 1; done
	arm-none-eabi-gcc $(FW_CFLAGS) -std=c99 -I$(FW_DIR)/export -I$(FW_DIR) -c examples/firmware/main.c -o $(FW_DIR)/obj/main.o
	arm-none-eabi-gcc $(FW_CFLAGS) -std=c99 -c examples/firmware/startup.c -o $(FW_DIR)/obj/startup.o
	arm-none-eabi-gcc $(FW_LDFLAGS) $(FW_DIR)/obj/*.o -lm -Wl,-Map=$(FW_DIR)/plasmo-firmware.map -o $@

firmware: $(FW_ELF)
	@examples/firmware/footprint.sh $(FW_ELF)

firmware-run: $(FW_ELF)
	$(FW_QEMU)

firmware-check: $(FW_ELF) $(PLASMO_INFER) $(PLASMO)
	@examples/firmware/footprint.sh $(FW_ELF)
	$(FW_QEMU) > $(FW_DIR)/qemu.txt
	$(PLASMO) predict --model $(FW_MODEL) $(sort $(wildcard $(FW_DIR)/cells/*/*.png)) > $(FW_DIR)/predict.txt
	examples/firmware/compare.sh $(FW_DIR)/qemu.txt $(FW_DIR)/predict.txt 1e-4
	$(PLASMO_INFER) $(FW_MODEL) $(sort $(wildcard $(FW_DIR)/cells/*/*.png)) > $(FW_DIR)/host.txt
	examples/firmware/compare.sh $(FW_DIR)/qemu.txt $(FW_DIR)/host.txt 1e-4

# The doctest suite. TEST_ARGS passes doctest options, e.g. TEST_ARGS='-tc="Conv2d*"'.
test: $(TESTS) $(PLASMO) $(PLASMO_INFER)
	@scripts/check_isa_symbols.sh $(BUILD)
	cd $(BUILD) && $(TEST_ENV) PLASMO_BIN=$(abspath $(PLASMO)) ./plasmo-tests $(TEST_ARGS)

# The suite once per x86 ISA this CPU runs, each forced through PLASMO_ISA (K() then returns that
# table everywhere: layers, gradient checks). TEST_ARGS narrows it, e.g. TEST_ARGS='-tc=*gradient*'.
ISA_LIST = ref $(if $(shell grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && echo y),avx2) \
               $(if $(shell grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && \
                            grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo && echo y),avx512)
test-isa: $(TESTS) $(PLASMO)
	@set -e; for isa in $(ISA_LIST); do \
	  echo "== PLASMO_ISA=$$isa"; \
	  (cd $(BUILD) && PLASMO_ISA=$$isa PLASMO_BIN=$(abspath $(PLASMO)) ./plasmo-tests $(TEST_ARGS)); \
	done

# The whole suite cross-built for aarch64 (NEON kernels) into build-arm/ and run under qemu-user.
ARM_BUILD := build-arm
ARM_QEMU  := qemu-aarch64 -L /usr/aarch64-linux-gnu
test-arm:
	@scripts/deps.sh g++-aarch64-linux-gnu qemu-user
	$(MAKE) ARCH=aarch64 BUILD=$(ARM_BUILD) CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar CC=aarch64-linux-gnu-gcc \
	  $(ARM_BUILD)/plasmo-tests $(ARM_BUILD)/plasmo $(ARM_BUILD)/plasmo-infer
	@printf '#!/bin/sh\nexec $(ARM_QEMU) $(abspath $(ARM_BUILD))/plasmo "$$@"\n' > $(ARM_BUILD)/plasmo-qemu
	@printf '#!/bin/sh\nexec $(ARM_QEMU) $(abspath $(ARM_BUILD))/plasmo-infer "$$@"\n' > $(ARM_BUILD)/plasmo-infer-qemu
	@chmod +x $(ARM_BUILD)/plasmo-qemu $(ARM_BUILD)/plasmo-infer-qemu
	cd $(ARM_BUILD) && PLASMO_BIN=$(abspath $(ARM_BUILD))/plasmo-qemu \
	  PLASMO_INFER_BIN=$(abspath $(ARM_BUILD))/plasmo-infer-qemu $(ARM_QEMU) ./plasmo-tests $(TEST_ARGS)

# Synthetic cells -> train the autoencoder -> evaluate, report, heatmaps, predictions (scripts/demo.sh).
demo: $(PLASMO) $(PLASMO_INFER)
	BUILD=$(BUILD) scripts/demo.sh

install: $(PLASMO) $(PLASMO_INFER)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PLASMO) $(PLASMO_INFER) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-*

# ---- fuzzing: `make fuzz [FUZZ_SECONDS=60]` --------------------------------------------------------
# A sub-make builds the library with clang into build-fuzz/ (ASan + UBSan + libFuzzer coverage), links
# each fuzz/fuzz_<name>.cpp with -fsanitize=fuzzer, and runs it for FUZZ_SECONDS on the corpus
# build-fuzz/corpus/<name>/ (new inputs go there), seeded from fuzz/corpus/<name>/ and using the
# dictionary fuzz/<name>.dict when they exist. A crash, leak, timeout or sanitizer report stops with an
# error; the input is saved as build-fuzz/artifacts/<name>-crash-... (rerun: build-fuzz/fuzz_<name> FILE).
# FUZZ_SEED fixes libFuzzer's random seed, so CI's 60 s retrace the same inputs on every run and a red
# run is a regression anyone can repeat, not a coin toss (a random stb_image finding once failed CI).
# To hunt for new bugs, fuzz longer with a fresh seed: `make fuzz FUZZ_SEED=0 FUZZ_SECONDS=3600`.
FUZZ_BUILD ?= build-fuzz
FUZZ_SEED  ?= 1
FUZZ_CXX   ?= clang++
FUZZ_ARGS  ?=# more libFuzzer options, e.g. FUZZ_ARGS=-max_len=65536

fuzz:
	@scripts/deps.sh $(FUZZ_PKGS)
	$(MAKE) BUILD=$(FUZZ_BUILD) CXX=$(FUZZ_CXX) SAN=address,undefined FUZZING=1 OPT="-O1 -g" fuzz-run

$(BUILD)/fuzz_%: $(BUILD)/obj/fuzz/fuzz_%.o $(LIB) $(INFER_LIB)
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

# Keep the fuzz objects make would otherwise delete as intermediates.
.SECONDARY: $(FUZZ_OBJ)

fuzz-run: $(FUZZ_BIN)
	@set -e; mkdir -p $(BUILD)/artifacts; \
	for bin in $(FUZZ_BIN); do \
	  name=$${bin##*/fuzz_}; corpus=$(BUILD)/corpus/$$name; mkdir -p $$corpus; \
	  seeds=; [ -d fuzz/corpus/$$name ] && seeds=fuzz/corpus/$$name; \
	  dict=; [ -f fuzz/$$name.dict ] && dict=-dict=fuzz/$$name.dict; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s (corpus $$corpus $$seeds)"; \
	  $$bin $$dict -seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_ARGS) \
	    -artifact_prefix=$(BUILD)/artifacts/$$name- $$corpus $$seeds 2>$(BUILD)/fuzz_$$name.log \
	    || { tail -n 60 $(BUILD)/fuzz_$$name.log; echo "fuzz: $$name FAILED, input in $(BUILD)/artifacts/"; exit 1; }; \
	  grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)' $(BUILD)/fuzz_$$name.log || true; \
	done

# ---- formatting and lint ----------------------------------------------------------------------------
# Every C++ file in the tree (build outputs hold none); FORMAT_EXCLUDE keeps vendored code out.
FORMAT_EXCLUDE ?= %/third_party/%
SOURCE_FILES = $(filter-out build% $(FORMAT_EXCLUDE),$(wildcard *.h *.cpp */*.h */*.cpp */*/*.h */*/*.cpp */*/*/*.h */*/*/*.cpp))

format:
	@scripts/deps.sh $(FORMAT_PKGS)
	clang-format -i $(SOURCE_FILES)

format-check:
	@scripts/deps.sh $(FORMAT_PKGS)
	clang-format --dry-run --Werror $(SOURCE_FILES)

# cppcheck with the checks and suppressions in .cppcheck-suppressions (a second or two for the tree).
LINT_FLAGS := --std=c++17 --language=c++ -I. --enable=warning,style,performance,portability \
              --suppressions-list=.cppcheck-suppressions --inline-suppr --error-exitcode=1 --quiet
lint:
	@scripts/deps.sh $(LINT_PKGS)
	cppcheck $(LINT_FLAGS) -j2 $(filter-out $(FORMAT_EXCLUDE),$(filter %.cpp,$(SOURCE_FILES)))

help:
	@echo "make            build build/plasmo, build/plasmo-infer and the tests"
	@echo "make infer-static  build build/plasmo-infer-static (no shared libraries)"
	@echo "make firmware   build the Cortex-M4F example (examples/firmware/) and print its footprint"
	@echo "make firmware-run / firmware-check  run it under QEMU / compare it with plasmo predict (1e-4)"
	@echo "make test       build and run the test suite (SAN=address,undefined for a sanitizer build); first"
	@echo "                scripts/check_isa_symbols.sh: no inline function shared by ISA-flagged and other objects"
	@echo "make test-isa   run the suite once per x86 ISA of this CPU (PLASMO_ISA=ref, avx2, avx512)"
	@echo "make test-arm   cross-build for aarch64 (NEON) into build-arm/ and run the suite under qemu"
	@echo "make bench      plasmo vs PyTorch: kernels, models, targets, profile (make bench-deps installs torch)"
	@echo "make demo       build and run the demo"
	@echo "make install    install into PREFIX=$(PREFIX)"
	@echo "make clean      remove build outputs"
	@echo "make fuzz       build fuzz/fuzz_*.cpp with clang + libFuzzer and run each FUZZ_SECONDS=$(FUZZ_SECONDS)"
	@echo "make format     clang-format every source file (format-check: only report)"
	@echo "make lint       cppcheck over the sources (.cppcheck-suppressions)"

# ---- kernel benchmark: the FMA peak probe and every model convolution's GFLOP/s (not a test) ----------
# `make bench-kernels BENCH_ARGS='--model resnet18 --reps 9'`; the probes get their ISA's flags like the kernels.
BENCH_KERNELS     := $(BUILD)/bench-kernels
BENCH_KERNELS_OBJ := $(call obj,bench/bench_kernels.cpp bench/peak_avx512.cpp bench/peak_avx2.cpp bench/peak_neon.cpp)
ifneq ($(ARCH),aarch64)
$(BUILD)/obj/bench/peak_avx512.o: ISAFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2
$(BUILD)/obj/bench/peak_avx2.o:   ISAFLAGS := -mavx2 -mfma
endif
.PHONY: bench-kernels
$(BENCH_KERNELS): $(BENCH_KERNELS_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) $(BENCH_KERNELS_OBJ) $(LIB) $(LDLIBS) -o $@
bench-kernels: $(BENCH_KERNELS)
	$(BENCH_KERNELS) $(BENCH_ARGS)

# The data loader benchmark (data_loader/README.md): cold decode and cached start on a real data folder.
# LOADER_DATA picks the folder (default: the shared NIH set), LOADER_ARGS passes more options.
LOADER_DATA ?= $(firstword $(wildcard ../shared/nih-malaria ../../shared/nih-malaria) ../shared/nih-malaria)
BENCH_LOADER := $(BUILD)/bench-loader
.PHONY: bench-loader
$(BENCH_LOADER): $(BUILD)/obj/bench/bench_loader.o $(LIB)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@
bench-loader: $(BENCH_LOADER)
	$(BENCH_LOADER) --data $(LOADER_DATA) $(LOADER_ARGS)

# ---- model benchmark: `make bench` prints one report (machine, FMA peak, kernel table when bench-kernels
# exists, the three models vs PyTorch, targets, per-layer profile) and keeps it in $(BUILD)/bench/report.md.
# Not a test. Knobs (environment or make variables): BENCH_MODELS, BENCH_THREADS (1,2), BENCH_REPS (5),
# BENCH_MIN_TIME (0.5 s), BENCH_RUNS (1), BENCH_CLOCK (auto|wall|cpu), BENCH_PROFILE (1), BENCH_TORCH (1),
# BENCH_TORCH_BLAS (a BLAS folder for PyTorch); see bench/run_bench.sh.
BENCH_MODELS_BIN := $(BUILD)/bench-models
# bench-kernels' FMA probes (bench/peak_*.cpp, with their ISA flags above): both benchmarks quote one peak.
BENCH_MODELS_OBJ := $(call obj,bench/bench_models.cpp bench/model_profile.cpp bench/report.cpp bench/fma_probe.cpp \
                      bench/peak_avx512.cpp bench/peak_avx2.cpp bench/peak_neon.cpp)
$(BENCH_MODELS_BIN): $(BENCH_MODELS_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) $(BENCH_MODELS_OBJ) $(LIB) $(LDLIBS) -o $@
bench: $(BENCH_MODELS_BIN)
	@if [ -f bench/bench_kernels.cpp ]; then $(MAKE) --no-print-directory $(BUILD)/bench-kernels; fi
	BUILD=$(BUILD) bench/run_bench.sh
# PyTorch for the comparison columns (Debian's, seen by /usr/bin/python3 only), with OpenBLAS: without it
# Debian's torch runs batch-1 convolutions through netlib's reference BLAS, 2-5x slower than a normal
# install, which would flatter plasmo (docs/performance.md).
bench-deps:
	@scripts/deps.sh python3-torch python3-torchvision libopenblas0-pthread

# Header dependencies of every object built so far (one line for all targets).
-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/obj/*/*/*/*.d)
