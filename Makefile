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

.PHONY: all deps test demo clean install help format lint
all: $(PLASMO) $(TESTS)

deps:
	@scripts/deps.sh $(DEPS_PKGS)

$(BUILD)/obj/%.o: %.cpp | deps
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
	@echo "make demo       build and run the demo"
	@echo "make install    install into PREFIX=$(PREFIX)"
	@echo "make clean      remove build outputs"

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
