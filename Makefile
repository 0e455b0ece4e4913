# leakhound: eBPF memory-leak tracer for Go programs.
# Out-of-tree build into $(OUTPUT); `make V=1` shows full commands.

OUTPUT ?= build
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
VERSION := 0.1.0

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 \
	  -D_GNU_SOURCE -DLEAKHOUND_VERSION='"$(VERSION)"' -MMD -MP
INCLUDES := -Iinclude -I$(OUTPUT)
LIBS := -lbpf -lelf -lz -lcjson -lm

# STATIC=1: link libbpf, libelf and zlib from their static archives; cJSON stays
# dynamic because Debian's libcjson-dev ships no static archive.
ifeq ($(STATIC),1)
LDLIBS := -Wl,-Bstatic -lbpf -lelf -lz -Wl,-Bdynamic -lcjson -lm
else
LDLIBS := $(LIBS)
endif

# SAN=1: ASan + UBSan build for the test suite.
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(patsubst src/%.c,$(OUTPUT)/src/%.o,$(LIB_SRCS))
LIB := $(OUTPUT)/libleakhound.a

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
# Test drivers: programs the integration tests run, built into a subdirectory so
# that tests/run.sh does not take them for unit tests.
DRIVER_SRCS := $(wildcard tests/drivers/*.c)
DRIVER_BINS := $(patsubst tests/drivers/%.c,$(OUTPUT)/tests/drivers/%,$(DRIVER_SRCS))
TOOL_SRCS := $(filter-out %.bpf.c,$(wildcard tools/*.c))
TOOL_BINS := $(patsubst tools/%.c,$(OUTPUT)/tools/%,$(TOOL_SRCS))
# BPF objects of the tools (tools/X.bpf.c: $(OUTPUT)/tools/X.skel.h), not leakhound's.
TOOL_BPF_SRCS := $(wildcard tools/*.bpf.c)
TOOL_SKELS := $(patsubst tools/%.bpf.c,$(OUTPUT)/tools/%.skel.h,$(TOOL_BPF_SRCS))

.PHONY: all deps test test-unit test-integration test-long test-asan test-matrix bench bench-daemon bench-goroutines bench-gortrace \
	bench-trace bench-cgo fuzz fuzz-build format clean vmlinux

all: $(OUTPUT)/leakhound $(TOOL_BINS)

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) include/leakhound.h vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -Wall -Werror --target=bpf -D__TARGET_ARCH_$(ARCH) \
		-Iinclude -Ivmlinux/$(ARCH) -c $< -o $@

# Keep BPF objects and skeletons in $(OUTPUT) (make would delete them as intermediates):
# they are for reading with llvm-objdump and bpftool.
.SECONDARY: $(BPF_OBJS) $(SKELS) $(TOOL_SKELS) \
	$(patsubst tools/%.bpf.c,$(OUTPUT)/tools/bpf/%.bpf.o,$(TOOL_BPF_SRCS))

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# Skeletons are generated before any compile (order-only); which object includes which
# skeleton is then in its -MMD .d file, so a BPF change rebuilds only its users.
$(OUTPUT)/src/%.o: src/%.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

# The live test of `leakhound check` walks the user stack from a function of check.c:
# frame pointers there give the kernel's walk frames to follow.
$(OUTPUT)/src/check.o: CFLAGS += -fno-omit-frame-pointer

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/leakhound: $(OUTPUT)/src/main.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -Itests/unit $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

$(OUTPUT)/tests/drivers/%: tests/drivers/%.c $(LIB)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

$(OUTPUT)/tools/bpf/%.bpf.o: tools/%.bpf.c vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -Wall -Werror --target=bpf -D__TARGET_ARCH_$(ARCH) \
		-Iinclude -Ivmlinux/$(ARCH) -c $< -o $@

$(OUTPUT)/tools/%.skel.h: $(OUTPUT)/tools/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/tools/%: tools/%.c $(LIB) | $(TOOL_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -I$(OUTPUT)/tools $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

# Everything leakhound needs to build and test, from Debian packages.
deps:
	$(Q)scripts/deps.sh

vmlinux:
	$(Q)scripts/gen-vmlinux.sh vmlinux/$(ARCH)/vmlinux.h

# The CI suite: unit tests, then integration tests against Go fixtures built now.
test: all $(UNIT_BINS) $(DRIVER_BINS)
	$(Q)OUTPUT=$(OUTPUT) tests/run.sh

test-unit: $(UNIT_BINS)
	$(Q)OUTPUT=$(OUTPUT) tests/run.sh unit

test-integration: all $(DRIVER_BINS)
	$(Q)OUTPUT=$(OUTPUT) tests/run.sh integration

# The Go release matrix (not part of `make test`): the release-dependent integration
# suites once per Go release 1.19-1.26 (MATRIX_RELEASES), fixtures in $(OUTPUT)/matrix,
# then the refusal of go1.18 and go1.27; a table in $(OUTPUT)/matrix/MATRIX.md. Root;
# downloads the toolchains through the module proxy; see docs/MATRIX.md.
test-matrix: all $(DRIVER_BINS)
	$(Q)OUTPUT=$(OUTPUT) tests/matrix.sh

# The whole suite against an ASan + UBSan build (LeakSanitizer on: a leak at exit fails
# the command that leaked), in $(OUTPUT)-san, on demand (root).
test-asan:
	$(Q)ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} $(MAKE) SAN=1 OUTPUT=$(OUTPUT)-san test

# The long forms, on demand (root): the daemon soak for SOAK_SECONDS (default 30 min;
# CI runs 90 s of it in tests/integration/soak.sh).
SOAK_SECONDS ?= 1800
test-long: all $(DRIVER_BINS)
	$(Q)tests/fixtures/build.sh $(OUTPUT)/fixtures > /dev/null
	$(Q)OUTPUT=$(OUTPUT) scripts/soak.sh $(SOAK_SECONDS)

# libFuzzer targets (clang, ASan + UBSan): `make fuzz` builds them and runs each for
# FUZZ_SECONDS on a corpus seeded with the test fixtures; `make fuzz-build` only builds.
# The modules are compiled once, instrumented, for every target (docs/FUZZING.md);
# fuzz_gomem serves target memory from its input: it brings its own src/target.c.
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS := $(patsubst src/%.c,$(OUTPUT)/fuzz/obj/%.o,$(LIB_SRCS))
FUZZ_SECONDS ?= 300
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DLEAKHOUND_VERSION='"$(VERSION)"' \
	       -fsanitize=address,undefined -fno-sanitize-recover=undefined

fuzz-build: $(FUZZ_BINS)

$(OUTPUT)/fuzz/obj/%.o: src/%.c $(SKELS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP $(INCLUDES) -c $< -o $@

$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(INCLUDES) $< \
		$(if $(filter fuzz_gomem,$*),$(filter-out %/target.o,$(FUZZ_OBJS)),$(FUZZ_OBJS)) \
		$(LIBS) -o $@

fuzz: fuzz-build
	$(Q)for f in $(FUZZ_BINS); do OUTPUT=$(OUTPUT) tests/fuzz/run.sh $$f $(FUZZ_SECONDS) || exit 1; done

# `make bench`: the symbolizer (seconds, no privileges). `make bench-trace`: the Go heap
# tracer's cost on an allocation-heavy Go workload (root, about 14 min with the defaults;
# BENCH_TRACE_ARGS='-r 3 -s 5' for a shorter run). Kept apart; neither is part of `make test`.
bench: all
	$(Q)$(OUTPUT)/tools/lh-bench $(BENCH_ARGS)

bench-trace: all
	$(Q)OUTPUT=$(OUTPUT) LEAKHOUND=$(OUTPUT)/leakhound scripts/bench-trace.sh $(BENCH_TRACE_ARGS)

# C heap tracing's cost on a malloc/free-heavy cgo workload, against memleak-style
# tracing (tools/lh-memleak) and untraced (needs root).
bench-cgo: all
	$(Q)OUTPUT=$(OUTPUT) LEAKHOUND=$(OUTPUT)/leakhound scripts/bench-cgo.sh $(BENCH_CGO_ARGS)

# The daemon's CPU and RSS with 1, 10 and 50 traced processes, and attach latency
# (needs root; BENCH_DAEMON_ARGS, e.g. -s 30 -n "1 10").
bench-daemon: all
	$(Q)OUTPUT=$(OUTPUT) LEAKHOUND=$(OUTPUT)/leakhound scripts/bench-daemon.sh $(BENCH_DAEMON_ARGS)

# Goroutine tracing's probe cost on a goroutine-spawning workload (needs root).
bench-gortrace: all
	$(Q)OUTPUT=$(OUTPUT) scripts/bench-gortrace.sh $(BENCH_ARGS)

# Goroutine snapshot time and memory at 10k and 100k goroutines (needs root).
bench-goroutines: all
	$(Q)OUTPUT=$(OUTPUT) scripts/bench-goroutines.sh $(BENCH_ARGS)

format:
	$(Q)clang-format -i src/*.c src/*.h include/*.h bpf/*.c tools/*.c tests/unit/*.c tests/drivers/*.c tests/fuzz/*.c

clean:
	$(Q)rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/src/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/tests/drivers/*.d \
	$(OUTPUT)/tools/*.d $(OUTPUT)/fuzz/obj/*.d)
