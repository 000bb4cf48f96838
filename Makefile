# plasmo: the one build. `make help` lists the targets.
# Objects go under $(BUILD)/ (default build/); several builds (sanitizers, aarch64) live side by side.

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
LDLIBS   += -lpthread
ifneq ($(SAN),)
  CXXFLAGS += -g -fno-omit-frame-pointer -fsanitize=$(SAN) -fno-sanitize-recover=all
  LDFLAGS  += -fsanitize=$(SAN)
endif

# Debian packages the build, the tests and the demo need. Every target runs `deps` first (order-only),
# which installs only what is missing.
DEPS_PKGS := g++ make libstb-dev doctest-dev

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

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))
LIB_OBJ  := $(call obj,$(LIB_SRC))
CLI_OBJ  := $(call obj,$(CLI_SRC))
TEST_OBJ := $(call obj,$(TEST_SRC))
LIB      := $(BUILD)/libplasmo.a
PLASMO   := $(BUILD)/plasmo
TESTS    := $(BUILD)/plasmo-tests

# The scalar references never fuse a*b+c (GCC does by default on AArch64): same bits on every machine.
$(BUILD)/obj/engine/kernels/ref/%.o:    ISAFLAGS := -ffp-contract=off
# Only the ISA-specific kernel files get ISA flags, so the binary still runs on a CPU without them.
$(BUILD)/obj/engine/kernels/avx2/%.o:   ISAFLAGS := -mavx2 -mfma
$(BUILD)/obj/engine/kernels/avx512/%.o: ISAFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2
# The generic SIMD kernels (engine/kernels/simd/: pooling, BatchNorm, elementwise, optimizers) promise
# bit-exact parity with the reference: GCC must not fuse their separate vector multiplies and adds
# (it contracts intrinsics too). Their explicit fmadd calls still fuse.
SIMD_MISC_OBJ := $(foreach isa,avx2 avx512 neon,$(foreach kind,pool channel elementwise optim,\
                   $(BUILD)/obj/engine/kernels/$(isa)/$(kind).o))
$(SIMD_MISC_OBJ): CXXFLAGS += -ffp-contract=off

.PHONY: all deps test test-isa test-arm demo clean install help format lint
all: $(PLASMO) $(TESTS)

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

$(PLASMO): $(CLI_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(TESTS): $(TEST_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) $(TEST_OBJ) $(LIB) $(LDLIBS) -o $@

# The doctest suite. TEST_ARGS passes doctest options, e.g. TEST_ARGS='-tc="Conv2d*"'.
test: $(TESTS) $(PLASMO)
	cd $(BUILD) && PLASMO_BIN=$(abspath $(PLASMO)) ./plasmo-tests $(TEST_ARGS)

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
	$(MAKE) ARCH=aarch64 BUILD=$(ARM_BUILD) CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
	  $(ARM_BUILD)/plasmo-tests $(ARM_BUILD)/plasmo
	@printf '#!/bin/sh\nexec $(ARM_QEMU) $(abspath $(ARM_BUILD))/plasmo "$$@"\n' > $(ARM_BUILD)/plasmo-qemu
	@chmod +x $(ARM_BUILD)/plasmo-qemu
	cd $(ARM_BUILD) && PLASMO_BIN=$(abspath $(ARM_BUILD))/plasmo-qemu $(ARM_QEMU) ./plasmo-tests $(TEST_ARGS)

demo: $(PLASMO)
	$(PLASMO) --help

install: $(PLASMO)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PLASMO) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-*

help:
	@echo "make            build build/plasmo and the tests"
	@echo "make test       build and run the test suite (SAN=address,undefined for a sanitizer build)"
	@echo "make test-isa   run the suite once per x86 ISA of this CPU (PLASMO_ISA=ref, avx2, avx512)"
	@echo "make test-arm   cross-build for aarch64 (NEON) into build-arm/ and run the suite under qemu"
	@echo "make demo       build and run the demo"
	@echo "make install    install into PREFIX=$(PREFIX)"
	@echo "make clean      remove build outputs"

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

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_KERNELS_OBJ:.o=.d)
