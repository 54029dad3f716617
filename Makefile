# hsmgw — build, run and test. `make run` and `make test` are the two commands a user needs.
# Everything they need (packages, SoftHSM token, PostgreSQL cluster) is set up by the
# scripts in deploy/dev/.

SHELL := /bin/bash
CC ?= cc
B ?= build
SAN ?= 0
HSMGW_PORT ?= 8080
VAR ?= var/dev

PKGS := libmicrohttpd gnutls jansson libjwt libcrypto libpq p11-kit-1
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(filter-out p11-kit-1,$(PKGS)) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
	  -fno-strict-aliasing -pthread -Iinclude $(PKG_CFLAGS) $(shell pkg-config --cflags check 2>/dev/null)
LDLIBS += $(PKG_LIBS) -pthread -ldl
ifeq ($(SAN),1)
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(filter-out src/daemon/% src/cli/%,$(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/src/api/openapi_blob.o
UNIT_SRC := $(wildcard tests/unit/*.c)
API_SRC := $(wildcard tests/api/*.c)
P11_SRC := $(wildcard tests/p11/*.c)

.PHONY: all build deps run test lint-openapi format format-check clean bench bench-soak
all build: $(B)/hsmgwd $(B)/hsmgwctl

$(B)/%.o: %.c $(wildcard include/hsmgw/*.h src/*/*_internal.h tests/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The OpenAPI document is served at /openapi.json: bundled from the YAML and embedded.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(B)/openapi.json: openapi/hsmgw.yaml node_modules/.installed
	@mkdir -p $(@D)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly bundle openapi/hsmgw.yaml --ext json -o $@ >/dev/null

$(B)/src/api/openapi_blob.o: src/api/openapi_blob.S $(B)/openapi.json
	@mkdir -p $(@D)
	$(CC) -c -DOPENAPI_JSON='"$(B)/openapi.json"' -o $@ $<

$(B)/libhsmgw.a: $(LIB_OBJ)
	ar rcs $@ $^

$(B)/hsmgwd: $(B)/src/daemon/main.o $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/hsmgwctl: $(B)/src/cli/hsmgwctl.o $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/test-unit: $(UNIT_SRC:%.c=$(B)/%.o) $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check)

$(B)/test-p11: $(P11_SRC:%.c=$(B)/%.o) $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check)

$(B)/test-api: $(API_SRC:%.c=$(B)/%.o) $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check libcurl)

# The fault-injecting PKCS#11 module the tests run the daemon on (tests/faultp11/faultp11.c says
# how to command it). A plain shared object, never sanitized: the sanitized daemon loads it as it
# loads SoftHSM.
$(B)/libfaultp11.so: tests/faultp11/faultp11.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -pthread \
	  $(shell pkg-config --cflags p11-kit-1) -o $@ $< -ldl

# The in-process PKCS#11 baseline that hsmgw's figures are compared with.
$(B)/p11bench: $(B)/bench/p11bench.o $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The gateway without its audit trail, only to measure what auditing costs (bench/).
$(B)/hsmgwd-noaudit: src/daemon/main.c $(B)/libhsmgw.a
	$(CC) $(CFLAGS) -DHSMGW_BENCH_NO_AUDIT $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The audit writer alone (rows/s committed).
$(B)/auditbench: $(B)/bench/auditbench.o $(B)/libhsmgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The HTTP ceiling: libmicrohttpd alone with the gateway's options (bench/baremhd.c).
$(B)/baremhd: $(B)/bench/baremhd.o
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libmicrohttpd) -pthread

# The open-loop constant-rate load generator for latency at a fixed offered load.
$(B)/loadgen: $(B)/bench/loadgen.o
	$(CC) $(LDFLAGS) -o $@ $^ -lm

deps:
	@deploy/dev/install-deps.sh

# Installs what is missing, builds, prepares $(VAR) and runs the gateway in the foreground.
run: deps
	@$(MAKE) --no-print-directory build
	@deploy/dev/run.sh "$(VAR)" "$(HSMGW_PORT)" "$(B)"

lint-openapi: node_modules/.installed
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly lint openapi/hsmgw.yaml

FORMATTED = $(wildcard src/*/*.c src/*/*.h include/hsmgw/*.h tests/*/*.c tests/*/*.h bench/*.c)
format:
	clang-format -i $(FORMATTED)

format-check:
	@clang-format --dry-run --Werror $(FORMATTED) || { echo "run 'make format'"; exit 1; }

# Every test: the format check, the OpenAPI lint, the unit tests, and the API tests against a real daemon,
# PostgreSQL and SoftHSM in a temporary directory — once built normally and once under
# AddressSanitizer + UndefinedBehaviorSanitizer.
test: deps
	@$(MAKE) --no-print-directory format-check lint-openapi
	@$(MAKE) --no-print-directory build $(B)/test-unit $(B)/test-p11 $(B)/test-api $(B)/libfaultp11.so
	@$(MAKE) --no-print-directory B=build-asan SAN=1 build build-asan/test-unit build-asan/test-p11 build-asan/test-api
	@$(MAKE) --no-print-directory fuzz-build
	@deploy/dev/test.sh build build-asan

# Benchmarks (bench/run.sh): the raw PKCS#11 and libmicrohttpd ceilings, then hsmgw end to
# end, in a private environment in a temporary directory; prints one table and writes it to
# bench/results/<UTC time>.json. BENCH_SECONDS per measurement (10); bench-soak, or
# BENCH_SOAK=SECONDS, adds encrypt at 2,000 req/s for 300 s with hsmgwd's RSS every 10 s.
bench:
	@$(MAKE) --no-print-directory build $(B)/p11bench $(B)/baremhd $(B)/loadgen
	@BIN=$(B) bench/run.sh

bench-soak:
	@$(MAKE) --no-print-directory build $(B)/p11bench $(B)/baremhd $(B)/loadgen
	@BIN=$(B) BENCH_SOAK=$${BENCH_SOAK:-300} bench/run.sh

clean:
	rm -rf build build-asan build-fuzz

# ---- fuzzing (tests/fuzz/): libFuzzer targets, built with clang into build-fuzz/ ----
# Each tests/fuzz/fuzz_<name>.c is one target; its seeds are tests/fuzz/corpus/<name>/ and its
# dictionary, if any, tests/fuzz/<name>.dict. The library is compiled again with clang and
# -fsanitize=fuzzer-no-link,address,undefined (-Wformat-nonliteral is off: clang, unlike gcc,
# warns on vsnprintf with a va_list format) and linked without the OpenAPI blob.
.PHONY: fuzz fuzz-build memcheck
FUZZ_CC ?= clang
FUZZ_B := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = $(filter-out -O2,$(CFLAGS)) -O1 -Wno-format-nonliteral $(FUZZ_SAN)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_B)/%.o) $(FUZZ_B)/tests/fuzz/openapi_stub.o

$(FUZZ_B)/%.o: %.c $(wildcard include/hsmgw/*.h src/*/*_internal.h tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_B)/libhsmgw.a: $(FUZZ_LIB_OBJ)
	ar rcs $@ $^

$(FUZZ_B)/fuzz_%: $(FUZZ_B)/tests/fuzz/fuzz_%.o $(FUZZ_B)/libhsmgw.a
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_B)/tests/fuzz/fuzz_%.o)

# Runs every target for FUZZ_SECONDS on its seeds; what it finds is kept in
# build-fuzz/corpus/<name>/ (read again next time; the seeds in git are never written to),
# crashes in build-fuzz/crashes/<name>/. One line per target: executions, exec/s, crashes.
fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_B) $(FUZZ_TARGETS)

# ---- memcheck: the API tests against $(B)/hsmgwd (the normal build) under valgrind ----
# deploy/dev/test.sh's environment, with the daemon's command wrapped in valgrind and every time
# limit multiplied by MEMCHECK_SLOW. valgrind's report goes to MEMCHECK_LOG. The verdict is
# valgrind's: any memory error or a definitely lost block fails (tests/valgrind.supp holds
# third-party leaks only). The API tests' count is printed too; a test that only misses its
# timing under valgrind does not fail memcheck (make test runs them all at full speed).
MEMCHECK_LOG ?= $(B)/memcheck.log
MEMCHECK_SLOW ?= 10
VALGRIND := valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=97 \
	--num-callers=40 --suppressions=$(CURDIR)/tests/valgrind.supp --log-file=$(CURDIR)/$(MEMCHECK_LOG)
memcheck: deps
	@$(MAKE) --no-print-directory build $(B)/test-api $(B)/libfaultp11.so
	@rm -f $(MEMCHECK_LOG)
	@start=$$(date +%s); \
	HSMGW_DAEMON_WRAPPER="$(VALGRIND)" HSMGW_TEST_SLOW=$(MEMCHECK_SLOW) deploy/dev/test.sh $(B) | tee $(B)/memcheck-tests.log; \
	echo "== valgrind memcheck, $$(( $$(date +%s) - start )) s: $(MEMCHECK_LOG)"; \
	echo "API tests under valgrind: $$(tail -n 1 $(B)/memcheck-tests.log)"; \
	grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:' \
	  $(MEMCHECK_LOG) 2>/dev/null | sed 's/^==[0-9]*== *//'; \
	grep -q 'ERROR SUMMARY: 0 errors' $(MEMCHECK_LOG) 2>/dev/null || { echo "memcheck: FAILED"; exit 1; }

# ---- the soak (issue 9, deploy/dev/soak.sh): long, not part of make test ----
# SOAK_SECONDS (600) of bounded loopback load (SOAK_RATE req/s, default 40) from build/soakload
# against the sanitized daemon on the fault-injecting PKCS#11 module, with random HSM faults,
# PostgreSQL restarts and kill -9 restarts; then every request id answered 2xx is looked up in
# the audit trail, the trail is verified and the daemon's logs are searched for sanitizer reports.
.PHONY: soak
$(B)/soakload: $(B)/tests/soak/soakload.o
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcurl jansson libcrypto) -pthread

soak: deps
	@$(MAKE) --no-print-directory B=build build build/soakload build/libfaultp11.so
	@$(MAKE) --no-print-directory B=build-asan SAN=1 build
	@deploy/dev/soak.sh build-asan build
