# SwiftHA: `make test` and `make demo` work on a fresh Debian machine. Targets install the
# Debian packages they need when run as root (apt-get), then build with SwiftPM.

SWIFT      ?= swift
SHARED     ?= $(abspath ../shared)
BENCH_DIR  ?= /tmp/swiftha-bench
BUILD_FLAGS ?=

# What building and testing need: libxml2 and libsystemd headers, pkg-config, Pacemaker's
# RelaxNG schemas (pacemaker-common), python3 for the benchmark generator, and the real
# resource and fence agents the Agents tests run unchanged (resource-agents, fence-agents), and
# systemd, dbus-daemon and dbus-system-bus-common for the systemd tests (which run a private
# systemd as PID 1 of its own namespaces, with its own system bus). The crm tutorial test (CrmHistoryClusterTests)
# runs its nodes in network namespaces (iproute2) and configures fence_xvm (fence-virt);
# `crm history wdiff` runs GNU wdiff, as crmsh does.
DEB_PACKAGES := libxml2-dev libsystemd-dev pkg-config pacemaker-common python3 resource-agents fence-agents dbus-daemon dbus-system-bus-common systemd iproute2 fence-virt wdiff
# The real Pacemaker tools, crmsh and corosync (with libcpg and a C compiler for its CPG
# client), for differential tests and side-by-side benchmarks.
PEER_PACKAGES := pacemaker-cli-utils crmsh corosync libcpg4 gcc
# pacemaker-execd and liblrmd's headers, for the lrmd benchmark's side-by-side figures.
BENCH_PEER_PACKAGES := pacemaker pacemaker-dev gcc

.PHONY: all deps peer-deps build test demo bench bench-memory bench-failover clean ratchet

all: build

deps:
	@./scripts/ensure-packages.sh $(DEB_PACKAGES)

peer-deps:
	@./scripts/ensure-packages.sh $(PEER_PACKAGES)

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# One build, then every test from it. SWIFTHA_SHARED tells the conformance tests where
# ../shared is; they skip with a message when it is absent. The suites run one after the
# other: the CPU-heavy conformance loops would otherwise starve the process-running tests of
# Swift's two cooperative threads on a 2-core machine.
test: deps peer-deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	SWIFTHA_SHARED=$(SHARED) $(SWIFT) test --skip-build --no-parallel $(BUILD_FLAGS)

# Three nodes on 127.0.0.1-3, fencing on, a web server that fails over when its node loses
# power; stops and removes everything it started, on failure and Ctrl-C too.
demo: build
	@./scripts/demo.sh

bench: deps peer-deps
	@./scripts/ensure-packages.sh $(BENCH_PEER_PACKAGES) || echo "make bench: without $(BENCH_PEER_PACKAGES), the lrmd figures have no pacemaker-execd beside them"
	$(SWIFT) build -c release --product cib-bench
	@mkdir -p $(BENCH_DIR)
	@test -f $(BENCH_DIR)/cib-32x2000.xml || python3 $(SHARED)/bench/gen_cib.py -n 32 -m 2000 -o $(BENCH_DIR)/cib-32x2000.xml --seed 11
	$(SWIFT) run -c release --skip-build cib-bench $(BENCH_DIR)/cib-32x2000.xml
	$(SWIFT) build -c release --product crm_simulate
	python3 scripts/bench-scheduler.py --ours .build/release/crm_simulate --dir $(BENCH_DIR) --shared $(SHARED) $(if $(BENCH_BIG),--big,)
	$(SWIFT) build -c release --product lrmd
	python3 scripts/bench-lrmd.py --lrmd .build/release/lrmd
	$(SWIFT) build -c release --product corosyncd
	python3 scripts/bench-corosync.py --corosyncd .build/release/corosyncd
	$(MAKE) bench-memory
	$(MAKE) bench-failover

# Memory of one node (scripts/bench-memory.py): pacemakerd and its five daemons running a fence
# device and 20 Dummy resources; each daemon's RSS, peak, own (anon) and mapped-file memory and
# PSS, and the total, beside Pacemaker + Corosync's figures.
bench-memory: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	python3 scripts/bench-memory.py --bin $$($(SWIFT) build -c release --show-bin-path)

# Failover of a real 3-node cluster on 127.0.0.1-3 with fencing: a web server grouped with a
# dummy address, its node SIGKILLed FAILOVERS times with token 300 ms and FAILOVERS_1000 times
# with token 1000 ms; prints each failover's steps from the survivors' logs (--timeline), then
# median/p90/min/max beside Pacemaker's figures, and the peak RSS of one node's daemons.
FAILOVERS      ?= 20
FAILOVERS_1000 ?= 20
bench-failover: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	python3 scripts/failover.py bench --bin $$($(SWIFT) build -c release --show-bin-path) --failovers $(FAILOVERS) --token 300 --failovers2 $(FAILOVERS_1000) --token2 1000 --timeline

clean:
	rm -rf .build

# Re-record the scheduler conformance ratchet (the cases that match now) after an improvement.
ratchet: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	UPDATE_RATCHET=1 SWIFTHA_SHARED=$(SHARED) $(SWIFT) test --skip-build $(BUILD_FLAGS) --filter ConformanceSuiteTests
