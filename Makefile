# yubin - build, test and run.
#
#   make            build build/yubin
#   make run        install missing Debian packages, build, create ./instance, run in the foreground
#   make check      install missing Debian packages, build (plain and ASan+UBSan), run all tests
#   make bench      run bench/smtp-throughput (not part of check)

CC      ?= cc
PKGS    := openssl libpcre2-8 lmdb sqlite3 libcares
CFLAGS_BASE := -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc \
               -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
LIBS    := -lssl -lcrypto -lpcre2-8 -llmdb -lsqlite3 -lcares -lcrypt -largon2
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Layered libraries (src/lib, src/lib-*: see docs/ARCHITECTURE.md and
# scripts/check-layers.py), then one folder per role, then the command line.
LIB_SRCS  := $(wildcard src/lib/*.c src/lib-*/*.c)
ROLE_SRCS := $(wildcard src/master/*.c src/smtpd/*.c src/qmgr/*.c src/deliver/*.c src/auth/*.c src/cmd/*.c)
CORE_SRCS := $(filter-out src/cmd/main.c,$(LIB_SRCS) $(ROLE_SRCS))
TEST_SRCS := $(wildcard tests/unit/test_*.c)

OBJS      := $(CORE_SRCS:%.c=build/%.o)
AOBJS     := $(CORE_SRCS:%.c=build-asan/%.o)
TESTS     := $(TEST_SRCS:tests/unit/%.c=build/tests/%)
ATESTS    := $(TEST_SRCS:tests/unit/%.c=build-asan/tests/%)

.PHONY: layers all asan deps test-deps run check unit unit-asan integration clean bench instance

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

deps:
	@sh scripts/deps.sh build

test-deps:
	@sh scripts/deps.sh test

unit: $(TESTS)
	@sh scripts/run-unit.sh $(TESTS)

unit-asan: $(ATESTS)
	@ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 sh scripts/run-unit.sh $(ATESTS)

integration: build-asan/yubin build/yubin
	@sh scripts/run-integration.sh

layers:
	@python3 scripts/check-layers.py .

check: test-deps
	@python3 scripts/check-layers.py .
	$(MAKE) all asan
	$(MAKE) unit unit-asan
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
	rm -rf build build-asan

-include $(OBJS:.o=.d) $(AOBJS:.o=.d) build/src/cmd/main.d build-asan/src/cmd/main.d
