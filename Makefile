# vggtap build. `make` builds bin/*, `make test` builds and runs every test,
# `make check-asan` runs the whole suite again on programs, tools and C tests
# built with ASan+UBSan, `make check-tsan` the threaded tests with TSan,
# `make fuzz` the libFuzzer harnesses of tests/fuzz/ (clang) for FUZZ_SECONDS
# each, `make ci-test` all four (what CI runs).
#
# Each build step prints one short line (CC file.c, AR, LD program); V=1
# prints the whole commands.
#
# Layout (docs/ARCHITECTURE.md): every .c file in common/*/, extract/ and
# train/ goes into one static library, except program mains, which are named
# vggtap_*.c and become
# $(BINDIR)/vggtap-* (bin/; build-asan/bin/, build-tsan/bin/ for the sanitizer
# builds).
# tests/test_*.c become build/tests/test_*; tests/tools/*.c become
# build/tools/* (helpers that tests and benchmarks call).

CC      ?= cc
BUILD   ?= build
# The code is built for a baseline CPU (x86-64-v2 on x86: SSE4.2, any x86 of
# the last 15 years; the compiler's default elsewhere) and picks its kernels
# at run time (below). `make NATIVE=1` builds everything for this machine's
# CPU instead: such a binary may not start on another one.
ifneq ($(findstring x86_64,$(shell $(CC) -dumpmachine)),)
BASELINE ?= -march=x86-64-v2
endif
OPT     ?= -O2 $(if $(NATIVE),-march=native,$(BASELINE))
SAN     ?=
DEFS    ?=
BINDIR  ?= bin
CFLAGS  += -std=c17 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread \
           -D_DEFAULT_SOURCE -Icommon -Iextract -Itrain $(shell pkg-config --cflags hdf5) $(SAN) $(DEFS)
# every library but HDF5, whose flags differ for the arm64 cross-build
LIBS    := -lpng -ljpeg -lblis -linih -ljansson -lm -lpthread
LDLIBS  += $(shell pkg-config --libs hdf5) $(LIBS)
LDFLAGS += $(SAN)

# Kernels for one instruction set live in files named *_avx2.c, *_avx512.c,
# *_avx512icl.c (AVX-512 + VBMI + VNNI), *_avx512bf16.c and *_amx.c,
# compiled for that set only and chosen at run time (common/base/vt_cpu.h);
# the rest of the code is built for OPT's baseline. On other CPUs those files
# compile to nothing (#ifdef __x86_64__).
ifneq ($(findstring x86_64,$(shell $(CC) -dumpmachine)),)
ISA_avx2       := -mavx2 -mfma -mf16c
ISA_avx512     := $(ISA_avx2) -mavx512f -mavx512bw -mavx512dq -mavx512vl
ISA_avx512icl  := $(ISA_avx512) -mavx512vbmi -mavx512vnni
ISA_avx512bf16 := $(ISA_avx512) -mavx512bf16
ISA_amx        := $(ISA_avx512bf16) -mamx-tile -mamx-bf16
$(BUILD)/%_avx2.o:       CFLAGS += $(ISA_avx2)
$(BUILD)/%_avx512.o:     CFLAGS += $(ISA_avx512)
$(BUILD)/%_avx512icl.o:  CFLAGS += $(ISA_avx512icl)
$(BUILD)/%_avx512bf16.o: CFLAGS += $(ISA_avx512bf16)
$(BUILD)/%_amx.o:        CFLAGS += $(ISA_amx)
endif

MAINS   := $(wildcard extract/vggtap_*.c train/vggtap_*.c)
LIBSRC  := $(filter-out $(MAINS),$(wildcard common/*/*.c extract/*.c train/*.c))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libvggtap.a
PROGS   := $(patsubst %.c,$(BINDIR)/%,$(subst _,-,$(notdir $(MAINS))))
TESTSRC := $(wildcard tests/test_*.c)
TESTS   := $(TESTSRC:tests/%.c=$(BUILD)/tests/%)
# Code only tests and benchmarks use (tests/support/: the im2col + BLIS conv
# they compare with), linked into them and not into the library.
SUPPORT := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/support/*.c))
TOOLSRC := $(wildcard tests/tools/*.c tests/bench/*.c)
TOOLS   := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOLSRC)))

.PHONY: all test ci-test check-asan check-tsan check-arm64 fuzz fuzz-build clean deps demo demo-build FORCE
# Every sub-make runs in this same directory: no "Entering directory" lines.
MAKEFLAGS += --no-print-directory
all: $(PROGS) $(TESTS) $(TOOLS)

deps:
	bash scripts/install-deps.sh

# The demo (docs/WORKFLOW.md): installs what is missing, builds, shows the
# weights it will use, writes 300 training + 100 test Fashion-MNIST PNGs per
# class (from Debian's dataset-fashion-mnist), then runs extract -> train ->
# evaluate at block1_pool and block2_pool (configs/demo.ini) and prints the
# report. A second run reuses everything already made. Weights: the programs'
# own lookup (README, "Weights"), which ends at the bundled block1-block2 file
# (data/weights), all the demo's taps need.
demo:
	bash scripts/install-deps.sh
	$(MAKE) demo-build
	@printf 'weights: ' && bin/vggtap-config weights configs/demo.ini
	test -e demo/fashion-mnist/.complete || { rm -rf demo/fashion-mnist && \
	  $(BUILD)/tools/fmnist_png --out demo/fashion-mnist && touch demo/fashion-mnist/.complete; }
	$(MAKE) -f pipeline.mk CONFIG=configs/demo.ini evaluate report
# (a goal with a recipe: make names no program that is up to date already)
demo-build: $(PROGS) $(BUILD)/tools/fmnist_png
	@:

# The checkout's data/ folder, compiled into the weights lookup (the bundled
# weights, common/net/vt_weights_find.h). $(BUILD)/data-dir holds the path
# and changes only when the checkout has moved, so that then (and only then)
# the lookup is rebuilt for the new place.
DATA_DIR := $(abspath data)
$(BUILD)/common/net/vt_weights_find.o: CFLAGS += -DVT_DATA_DIR='"$(DATA_DIR)"'
$(BUILD)/common/net/vt_weights_find.o: $(BUILD)/data-dir
$(BUILD)/data-dir: FORCE
	@mkdir -p $(@D) && echo '$(DATA_DIR)' | cmp -s - $@ || echo '$(DATA_DIR)' > $@
FORCE:

# Build lines name the step and the file (CC common/net/vt_conv.c);
# `make V=1` prints the whole commands, `make -s` nothing.
ifeq ($(V),1)
say =
else ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
say = @
else
say = @printf '%s %s\n' $(1) $(2);
endif

$(BUILD)/%.o: %.c $(wildcard common/*/*.h extract/*.h train/*.h tests/*.h tests/tools/*.h tests/support/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIBOBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BINDIR)/vggtap-%: $(BUILD)/extract/vggtap_%.o $(LIB)
	@mkdir -p $(BINDIR)
	$(call say,LD,$@)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BINDIR)/vggtap-%: $(BUILD)/train/vggtap_%.o $(LIB)
	@mkdir -p $(BINDIR)
	$(call say,LD,$@)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(SUPPORT) $(LIB)
	$(call say,LD,$@)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(SUPPORT) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tools/%: $(BUILD)/tests/bench/%.o $(SUPPORT) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

.SECONDARY:

test: all
	bash tests/run.sh

# libFuzzer harnesses (docs/RELIABILITY.md): the library built with clang,
# coverage instrumentation and ASan+UBSan into build-fuzz/, one binary per
# tests/fuzz/fuzz_*.c; `make fuzz` runs each for FUZZ_SECONDS (60) from its
# committed seed corpus and fails on any crash, leak or sanitizer report.
# Image files are read in 61-byte chunks there (64 KiB otherwise), so that
# fuzz_image's file reads cross a chunk boundary everywhere.
FUZZSRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 60

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_file.h $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(LIB) $(LDLIBS) -o $@

fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1" SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" DEFS=-DVT_SOURCE_CHUNK=61 \
	  $(FUZZSRC:tests/fuzz/%.c=build-fuzz/fuzz/%)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

# The whole suite (tests/run.sh) again, on the programs, tools and C tests
# built with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/
# (programs in build-asan/bin/, which the tests use through VGGTAP_BIN). Any
# sanitizer report, leaks included, fails the program (exit 86, or abort) and
# so its test. -O2: at -O1 the sanitized conv kernels made the suite 16
# minutes. Left out: the four tests that only add data volume (all 300
# photos of data/clothing-30 through code the other tests run on a few
# images; test_report_page's HTML writers run under ASan in test_report_html,
# test_pipeline and test_info, its 300-photo sweep took 4 minutes), and
# test_conv_head_real (1,441 photos and their mirrors through the prefix,
# then the conv head: the code test_conv_head runs on clothing-30), and
# test_train_bad_files, which checks what the crash guard makes of libhdf5
# crashing or looping on corrupt files: under ASan libhdf5 takes other paths
# (ASan reports its over-read in H5HG_read first; its infinite loop on a
# damaged free-space entry becomes an open failure) and the outcomes differ.
ASAN_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_EXCLUDE := test_extract_real.py test_train_real.py test_report_page.py test_train_bad_files.py \
                test_conv_head_real.py
check-asan:
	$(MAKE) BUILD=build-asan BINDIR=build-asan/bin OPT="-O2 $(BASELINE)" SAN="$(ASAN_SAN)" all
	ASAN_OPTIONS=detect_leaks=1:exitcode=86 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  VGGTAP_BIN=$(CURDIR)/build-asan/bin TEST_BUILD=build-asan TEST_EXCLUDE="$(ASAN_EXCLUDE)" bash tests/run.sh

# The tests whose programs run threads and take signals, again on programs,
# tools and C tests built with ThreadSanitizer into build-tsan/: the worker
# pool itself (test_pool), the extractor's workers and writer (store, lock, bad input, a full disk, kills
# and Ctrl-C, mirror images), vggtap-predict's workers (test_train_cli; also
# passes test_train_augment, 7 minutes under TSan, left out), the conv kernels
# shared by threads (test_conv) and the conv head's thread team
# (test_convnet_train). Any race report fails the program (exit 66)
# and so its test. The whole suite under TSan takes 9 minutes and found
# nothing more (docs/RELIABILITY.md). -O1, as TSan's documentation advises.
TSAN_SAN   := -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS := test_pool test_conv test_convnet_train test_extract_store.py test_extract_lock.py test_extract_bad_input.py \
              test_hostile_input.py test_disk_full.py test_extract_resume.py test_train_cli.py \
              test_extract_augment.py
check-tsan:
	$(MAKE) BUILD=build-tsan BINDIR=build-tsan/bin OPT="-O1 $(BASELINE)" SAN="$(TSAN_SAN)" all
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
	  VGGTAP_BIN=$(CURDIR)/build-tsan/bin TEST_BUILD=build-tsan TEST_ONLY="$(TSAN_TESTS)" bash tests/run.sh

# The C unit tests cross-compiled for aarch64 into build-arm64/ and run
# under qemu-user (qemu-aarch64): the portable kernels on a CPU without x86
# intrinsics. Needs `bash scripts/install-deps.sh --arm64`. HDF5 links to
# its arm64 runtime library by name, as its arm64 -dev package conflicts
# with the native one. About 4 minutes here (test_conv alone ~1 under
# emulation); the last step of CI's .ci/run (docs/RELIABILITY.md).
ARM64_LIBS := /usr/lib/aarch64-linux-gnu/libhdf5_serial.so.103 $(LIBS)
check-arm64:
	$(MAKE) CC=aarch64-linux-gnu-gcc BUILD=build-arm64 BINDIR=build-arm64/bin LDLIBS="$(ARM64_LIBS)" \
	  $(TESTSRC:tests/%.c=build-arm64/tests/%)
	TEST_EMULATOR=qemu-aarch64 TEST_BUILD=build-arm64 bash tests/run.sh --c-only

# What CI runs (.ci/run): the suite, the suite under ASan+UBSan, the threaded
# tests under TSan, the fuzzers.
ci-test: test
	$(MAKE) check-asan
	$(MAKE) check-tsan
	$(MAKE) fuzz

clean:
	rm -rf build build-asan build-tsan build-fuzz build-arm64 bin
