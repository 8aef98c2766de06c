# Gregor build.  `make` builds bin/gregord and bin/gregor; `make run` and `make test` are the two
# commands of the README and each installs its own Debian packages first (`make deps`).
#
# Variants: `make SAN=1 BUILD=build-san` builds with ASan+UBSan into its own tree; the fuzz
# targets are built by clang into build-fuzz.  Every .c file of a library module is compiled
# automatically: adding a file needs no Makefile change.

BUILD   ?= build
CC      ?= gcc
PYTHON  ?= /usr/bin/python3
SAN     ?=
OPT     ?= -O2
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

DEPS_PKGS := build-essential libevent-dev libssl-dev libzstd-dev liblz4-dev libsnappy-dev \
	zlib1g-dev libprotobuf-c-dev protobuf-c-compiler check pkg-config librdkafka-dev kcat \
	python3 python3-kafka python3-confluent-kafka python3-snappy python3-lz4 python3-zstandard \
	clang libclang-rt-14-dev

PKGS      := libevent zlib libzstd liblz4 snappy libprotobuf-c
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS    := -std=gnu11 $(OPT) -g -pthread -D_GNU_SOURCE $(WARN) -I. -I$(BUILD)/gen \
	-fno-strict-aliasing $(EXTRA_CFLAGS)
LDLIBS    := -pthread -lsnappy -lzstd -llz4 -lz -levent -lprotobuf-c -lm
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

LIB_MODULES := common proto net storage raft controller broker node
GEN_C       := $(BUILD)/gen/kafka_msgs.c
GEN_H       := $(BUILD)/gen/kafka_msgs.h
GEN_PB_C    := $(BUILD)/gen/proto/control.pb-c.c
GEN_PB_H    := $(BUILD)/gen/proto/control.pb-c.h
LIB_SRCS    := $(filter-out node/gregord_main.c,$(wildcard $(addsuffix /*.c,$(LIB_MODULES))))
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/kafka_msgs.o \
	$(BUILD)/obj/gen/proto/control.pb-c.o
LIB         := $(BUILD)/libgregor.a
CLI_SRCS    := $(wildcard cli/*.c)
CLI_OBJS    := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
SIM_SRCS    := $(wildcard tests/sim/*.c)
SIM_OBJS    := $(SIM_SRCS:%.c=$(BUILD)/obj/%.o)
SIM_BIN     := $(BUILD)/sim/raft_sim
BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
BIN_DIR     := $(if $(filter build,$(BUILD)),bin,$(BUILD)/bin)

.PHONY: all deps run test unit integration san fuzz fuzz-build bench clean format soak
.DEFAULT_GOAL := all

all: $(BIN_DIR)/gregord $(BIN_DIR)/gregor

# ---------------------------------------------------------------------------- packages
deps:
	@missing=""; for p in $(DEPS_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# ---------------------------------------------------------------------------- codegen
$(GEN_C) $(GEN_H) &: proto/kafka.schema proto/gen_kafka.py
	@mkdir -p $(BUILD)/gen
	$(PYTHON) proto/gen_kafka.py proto/kafka.schema $(BUILD)/gen

# Control-plane protobuf (proto/control.proto) -> $(BUILD)/gen/proto/control.pb-c.[ch].
$(GEN_PB_C) $(GEN_PB_H) &: proto/control.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen proto/control.proto

# ---------------------------------------------------------------------------- compile
$(BUILD)/obj/%.o: %.c | $(GEN_H) $(GEN_PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/gen/kafka_msgs.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-function -c $< -o $@

$(BUILD)/obj/gen/proto/control.pb-c.o: $(GEN_PB_C) $(GEN_PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN_DIR)/gregord: $(BUILD)/obj/node/gregord_main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN_DIR)/gregor: $(CLI_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lrdkafka $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $$(pkg-config --libs check) $(LDLIBS)

# The consumer-groups parsers are CLI code, outside libgregor.a: their test links the object.
$(BUILD)/tests/test_cli_groups: $(BUILD)/obj/cli/cli_groups_parse.o

$(SIM_BIN): $(SIM_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lrdkafka $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------- run
CONFIG ?= config/server.properties
run: deps all
	@if [ ! -f data/meta.properties ]; then \
	  id=$$($(BIN_DIR)/gregor storage random-uuid) && \
	  $(BIN_DIR)/gregor storage format -t $$id -c $(CONFIG); \
	fi
	exec $(BIN_DIR)/gregord $(CONFIG)

# ---------------------------------------------------------------------------- tests
# Under the sanitizer build unit tests run with CK_FORK=no, so LeakSanitizer sees one process.
SHARED_PROTO ?= ../shared/kafka-protocol/message
SIM_SEEDS ?= 2000
unit: $(UNIT_BINS) $(if $(SIM_SRCS),$(SIM_BIN))
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(if $(filter 1,$(SAN)),CK_FORK=no) $$t; done
	@if [ -n "$(SIM_SRCS)" ]; then echo "== $(SIM_BIN) --seeds $(SIM_SEEDS)"; \
	  $(SIM_BIN) --seeds $(SIM_SEEDS); fi
	@if [ -d $(SHARED_PROTO) ]; then \
	  $(PYTHON) tests/tools/check_schema.py proto/kafka.schema $(SHARED_PROTO); \
	else echo "schema check skipped: $(SHARED_PROTO) not present"; fi

integration: all
	GREGOR_BIN=$(abspath $(BIN_DIR)) BUILD=$(BUILD) $(PYTHON) tests/integration/run.py

san:
	$(MAKE) -j$(JOBS) BUILD=build-san SAN=1 OPT=-O1 all $(UNIT_BINS:build/%=build-san/%)
	$(MAKE) BUILD=build-san SAN=1 OPT=-O1 unit
	GREGOR_BIN=$(abspath build-san/bin) GREGOR_SAN=1 $(PYTHON) tests/integration/run.py --quick

FUZZ_SECONDS ?= 20
fuzz-build:
	$(MAKE) -j$(JOBS) BUILD=build-fuzz CC=clang OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -Wno-unused-command-line-argument" \
	  build-fuzz/libgregor.a
	@mkdir -p build-fuzz/fuzz
	@set -e; for f in tests/fuzz/fuzz_*.c; do n=$$(basename $$f .c); \
	  clang -std=gnu11 -O1 -g -D_GNU_SOURCE -I. -Ibuild-fuzz/gen \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $$f build-fuzz/libgregor.a \
	    -lsnappy -lzstd -llz4 -lz -levent -lprotobuf-c -lm -o build-fuzz/fuzz/$$n; done

fuzz: fuzz-build
	@set -e; for b in build-fuzz/fuzz/fuzz_*; do n=$$(basename $$b); \
	  mkdir -p build-fuzz/corpus/$$n; \
	  seeds=""; [ -d tests/fuzz/seeds/$$n ] && seeds=tests/fuzz/seeds/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$b -max_total_time=$(FUZZ_SECONDS) -seed=1 -max_len=65536 \
	    build-fuzz/corpus/$$n $$seeds 2>build-fuzz/$$n.log || { tail -50 build-fuzz/$$n.log; exit 1; }; \
	  tail -1 build-fuzz/$$n.log; done

test: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) san
	$(MAKE) fuzz
	@echo "make test: all tiers passed"

# Long simulation run: `make soak SOAK_SEEDS=100000 SOAK_START=1`.
SOAK_SEEDS ?= 100000
SOAK_START ?= 1
soak: $(SIM_BIN)
	$(SIM_BIN) --seeds $(SOAK_SEEDS) --start $(SOAK_START)

bench: deps all $(BENCH_BINS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz bin

# ---------------------------------------------------------------------------- containers
# A 6-node cluster in containers (docker-compose.yml: controllers 1-3, brokers 4-6, external
# listeners on 127.0.0.1:19092/29092/39092) and its failure drill (deploy/drill.sh).  No image
# registry is needed: the base image is a Debian 12 root filesystem made with debootstrap from
# the apt mirror (deploy/base-image.sh).  BASE=debian:bookworm-slim takes the ordinary route
# where a registry can be reached.
COMPOSE        ?= docker-compose
BASE           ?= gregor/debian:bookworm-local
IMAGE          ?= gregor:local
ROUNDS         ?= 20
UP_TIMEOUT_S   ?= 240
DOCKER_PKGS    := docker.io docker-compose
.PHONY: docker-deps cluster-image cluster-up cluster-down drill drill-local

docker-deps:
	@missing=""; for p in $(DOCKER_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	if [ -n "$$missing" ]; then \
	  echo "docker-deps: installing$$missing"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	if ! docker info >/dev/null 2>&1; then \
	  echo "docker-deps: starting dockerd (log: /var/log/dockerd.log)"; \
	  $$SUDO sh -c 'nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &'; \
	  i=0; until docker info >/dev/null 2>&1; do \
	    i=$$((i + 1)); \
	    if [ $$i -ge 60 ]; then \
	      echo "docker-deps: dockerd did not come up in 60 s; the end of /var/log/dockerd.log:" >&2; \
	      tail -n 20 /var/log/dockerd.log >&2; exit 1; \
	    fi; sleep 1; \
	  done; \
	  echo "docker-deps: dockerd is up"; \
	fi

cluster-image: docker-deps
	@start=$$(date +%s); \
	BASE=$(BASE) deploy/base-image.sh && \
	docker build -f deploy/Dockerfile --build-arg BASE=$(BASE) -t $(IMAGE) . && \
	echo "cluster-image: $(IMAGE) built in $$(( $$(date +%s) - start )) s," \
	  "$$(docker image inspect -f '{{.Size}}' $(IMAGE) | awk '{printf "%.1f MB", $$1 / 1e6}')"

cluster-up: docker-deps cluster-image
	@start=$$(date +%s); \
	GREGOR_IMAGE=$(IMAGE) $(COMPOSE) up -d || exit 1; \
	deadline=$$(( start + $(UP_TIMEOUT_S) )); last=""; \
	while :; do \
	  ids=$$($(COMPOSE) ps -q); \
	  states=$$([ -n "$$ids" ] && docker inspect -f \
	    '{{.Name}}={{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' \
	    $$ids | sed 's,^/,,' | sort | tr '\n' ' '); \
	  n=$$(echo "$$states" | tr ' ' '\n' | grep -c '=healthy$$'); \
	  if [ "$$states" != "$$last" ]; then \
	    echo "cluster-up: $$(( $$(date +%s) - start )) s: $$n/6 healthy: $$states"; last=$$states; \
	  fi; \
	  [ "$$n" = 6 ] && break; \
	  if echo "$$states" | grep -Eq '=(exited|dead|unhealthy)( |$$)' || \
	     [ $$(date +%s) -ge $$deadline ]; then \
	    echo "cluster-up: not all six nodes healthy (see '$(COMPOSE) logs SERVICE'):" >&2; \
	    $(COMPOSE) ps >&2; exit 1; \
	  fi; \
	  sleep 1; \
	done; \
	echo "cluster-up: 6/6 healthy in $$(( $$(date +%s) - start )) s;" \
	  "bootstrap servers 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092"

cluster-down:
	$(COMPOSE) down -v

drill: cluster-up
	ROUNDS=$(ROUNDS) COMPOSE="$(COMPOSE)" deploy/drill.sh

# The same drill on a loopback process cluster (3 controllers + 3 brokers on 127.0.0.1, no
# containers): kill -9 instead of docker kill.  CI runs it on every change.
drill-local: all
	LOCAL=1 ROUNDS=$(ROUNDS) $(PYTHON) deploy/drill.py
