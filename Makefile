# yubin - build, test and run.
#
#   make            build build/yubin
#   make run        install missing Debian packages, build, create ./instance, run in the foreground
#   make check      install missing Debian packages, build (plain and ASan+UBSan), run all tests
#   make bench      run bench/smtp-throughput (not part of check)
#   make fuzz       build tests/fuzz/ with clang + libFuzzer and run each target
#                   FUZZ_SECONDS (60) seconds, one at a time (TARGETS="addr content" picks some)
#   make fuzz-replay  replay every fuzz corpus with gcc + ASan/UBSan (part of check)
#   make sieve-conformance  Pigeonhole's Sieve tests run by lib-sieve (part of check)

CC      ?= cc
PKGS    := openssl libpcre2-8 lmdb sqlite3 libcares libpq libmariadb ldap
CFLAGS_BASE := -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc \
               -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-format-nonliteral \
               -I/usr/include/postgresql -I/usr/include/mariadb
CFLAGS  ?= -O2 -g
# --exclude-libs: nothing of libyubin.a is exported from the binaries, so a
# shared library never gets one of yubin's functions for one of its own
# names (libldap's SASL code calls Cyrus SASL's sasl_client_new(), a name
# lib-auth/sasl_client.c had before its functions became saslc_*).
LIBS    := -lssl -lcrypto -lpcre2-8 -llmdb -lsqlite3 -lcares -lcrypt -largon2 -lpq -lmariadb \
           -lldap -llber -Wl,--exclude-libs,ALL
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Layered libraries (src/lib, src/lib-*: see docs/ARCHITECTURE.md and
# scripts/check-layers.py), then one folder per role, then the command line.
LIB_SRCS  := $(wildcard src/lib/*.c src/lib-*/*.c)
ROLE_SRCS := $(wildcard src/master/*.c src/smtpd/*.c src/qmgr/*.c src/deliver/*.c src/auth/*.c src/proxymap/*.c \
             src/imapd/*.c src/lmtpd/*.c src/postscreen/*.c src/pop3d/*.c \
             src/managesieved/*.c src/cmd/*.c)
CORE_SRCS := $(filter-out src/cmd/main.c,$(LIB_SRCS) $(ROLE_SRCS))
TEST_SRCS := $(wildcard tests/unit/test_*.c)

OBJS      := $(CORE_SRCS:%.c=build/%.o)
AOBJS     := $(CORE_SRCS:%.c=build-asan/%.o)
TESTS     := $(TEST_SRCS:tests/unit/%.c=build/tests/%)
ATESTS    := $(TEST_SRCS:tests/unit/%.c=build-asan/tests/%)

# Fuzz targets (docs/FUZZING.md): tests/fuzz/fuzz_NAME.c, corpus tests/fuzz/corpus/NAME/.
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
TARGETS      ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang-14
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FOBJS        := $(CORE_SRCS:%.c=build-fuzz/%.o)
REPLAYS      := $(FUZZ_NAMES:%=build-asan/fuzz/%)

.PHONY: layers all asan deps test-deps fuzz-deps run check unit unit-asan integration clean bench \
        instance fuzz fuzz-build fuzz-replay sieve-conformance

all: build/yubin

build/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c $< -o $@

build-asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(ASAN_FLAGS) -MMD -MP -c $< -o $@

build/libyubin.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

build-asan/libyubin.a: $(AOBJS)
	@rm -f $@
	ar rcs $@ $^

build/yubin: build/src/cmd/main.o build/libyubin.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build-asan/yubin: build-asan/src/cmd/main.o build-asan/libyubin.a
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/tests/%: tests/unit/%.c tests/unit/t.h build/libyubin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -Itests/unit -o $@ $< build/libyubin.a $(LIBS)

build-asan/tests/%: tests/unit/%.c tests/unit/t.h build-asan/libyubin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(ASAN_FLAGS) -Itests/unit -o $@ $< build-asan/libyubin.a $(LIBS)

asan: build-asan/yubin

# libFuzzer builds: the project compiled by clang with coverage instrumentation.
build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build-fuzz/libyubin.a: $(FOBJS)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build-fuzz/libyubin.a
	$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< \
		build-fuzz/libyubin.a $(LIBS)

# Replay builds: gcc + ASan/UBSan, the same objects as the unit tests, and replay.c as main().
build-asan/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/replay.c build-asan/libyubin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(ASAN_FLAGS) -Itests/fuzz -o $@ $< tests/fuzz/replay.c \
		build-asan/libyubin.a $(LIBS)

fuzz-deps:
	@sh scripts/deps.sh fuzz

fuzz-build: fuzz-deps
	$(MAKE) $(TARGETS:%=build-fuzz/fuzz_%)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/run-fuzz.sh $(TARGETS)

fuzz-replay: $(REPLAYS)
	@ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 sh scripts/replay-fuzz.sh $(FUZZ_NAMES)

deps:
	@sh scripts/deps.sh build

test-deps:
	@sh scripts/deps.sh test

unit: $(TESTS)
	@sh scripts/run-unit.sh $(TESTS)

unit-asan: $(ATESTS)
	@ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 sh scripts/run-unit.sh $(ATESTS)

# Pigeonhole's Sieve test suite run by lib-sieve (tests/unit/sieve_testsuite.c).
sieve-conformance: build-asan/tests/sieve_testsuite
	@ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		sh scripts/sieve-conformance.sh build-asan/tests/sieve_testsuite

integration: build-asan/yubin build/yubin
	@sh scripts/run-integration.sh

layers: all
	@python3 scripts/check-layers.py .
	@python3 scripts/check-symbols.py . build

# make check compiles with one job per CPU (the tests themselves run as before).
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

check: test-deps
	@python3 scripts/check-layers.py .
	$(MAKE) -j$(CHECK_JOBS) all asan
	@python3 scripts/check-symbols.py . build
	$(MAKE) unit unit-asan
	$(MAKE) sieve-conformance
	$(MAKE) fuzz-replay
	$(MAKE) integration

instance: build/yubin
	@sh scripts/mkinstance.sh instance

run: deps
	$(MAKE) all
	@sh scripts/mkinstance.sh instance
	./build/yubin -c instance start-fg

bench: build/yubin
	@sh bench/smtp-throughput

clean:
	rm -rf build build-asan build-fuzz

-include $(OBJS:.o=.d) $(AOBJS:.o=.d) $(FOBJS:.o=.d) build/src/cmd/main.d build-asan/src/cmd/main.d
