# nftop: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else is for developers and packagers.

# The pinned stable toolchain (rust-toolchain.toml: its one place) for
# every cargo, rustc and rustfmt below and in the tests they start; the
# nightly steps name theirs with +$(NIGHTLY), which wins over this.
STABLE := $(shell sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
export RUSTUP_TOOLCHAIN := $(STABLE)
CARGO ?= cargo
# Every path below, and the tests' scripts, name target/: a target
# directory of the developer's (CARGO_TARGET_DIR, or `[build] target-dir`
# in a cargo config, which this overrides) would put the builds elsewhere
# and the steps would read stale ones or none. tests/fuzz.sh names the
# fuzz workspace's own.
export CARGO_TARGET_DIR := $(CURDIR)/target
DEB_DEPS = nftables conntrack iproute2 iputils-ping tmux iperf3 socat libc6-dev binutils signify-openbsd dnsmasq-base prometheus shellcheck nfdump pmacct g++ \
	qemu-user qemu-system-mips qemu-system-arm qemu-system-misc cpio openssl python3

.PHONY: all build release demo deps test test-host lint bench size clean soak fuzz fuzz-smoke fuzz-report fuzz-seeds fuzz-tools

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release --locked

# Installs what the demo and the tests need: the pinned Rust toolchains
# when missing (tests/toolchain.sh; the default toolchain is left as it
# is), then Debian's packages (only the missing ones; needs root).
# tests/deps.sh says what it changes.
deps:
	sh tests/toolchain.sh $(STABLE) $(NIGHTLY)
	sh tests/deps.sh $(DEB_DEPS)

demo: deps release
	sh tests/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	rustfmt --edition 2021 --check fuzz/fuzz_targets/*.rs
	$(CARGO) clippy --all-targets --locked -- -D warnings

# Everything: lint (also of Cross.toml, by cross-rs), unit tests, the namespace/terminal tests (as root;
# without root they skip with a message unless NFTOP_REQUIRE_NETNS=1),
# then the router CPUs: the decoder under qemu-user (test-foreign) and real
# kernels under qemu-system (test-vm). The VM tests run after the host
# tests, not beside them: emulated CPUs on two cores would disturb
# the rate measurements of the namespace tests.
test: deps lint version-check lint-cross test-host fuzz-smoke test-foreign test-vm

test-host:
	$(CARGO) test --locked -- --test-threads=2

# Coverage-guided fuzzing (fuzz/, cargo-fuzz with the pinned nightly,
# address sanitizer and overflow checks): fuzz-smoke runs every target 20 s
# on the committed corpus (part of make test); `make fuzz T=ct_dump
# RUNS=10000000` one long run; fuzz-report the slowest corpus inputs;
# fuzz-seeds records seeds from the kernel on the bed (needs root).
CARGO_FUZZ_VERSION = 0.13.2
fuzz-tools:
	@rustup toolchain list | grep -q '^$(NIGHTLY)' || rustup toolchain install $(NIGHTLY) --profile minimal
	@cargo fuzz --version 2>/dev/null | grep -q ' $(CARGO_FUZZ_VERSION)' || $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)

fuzz-smoke: fuzz-tools
	NIGHTLY=$(NIGHTLY) sh tests/fuzz.sh smoke 20

fuzz: fuzz-tools
	NIGHTLY=$(NIGHTLY) sh tests/fuzz.sh long $(T) $(RUNS)

fuzz-report: fuzz-tools
	NIGHTLY=$(NIGHTLY) sh tests/fuzz.sh report

# 30 minutes on the bed under load (tests/soak.rs says what and what
# passes); NFTOP_SOAK_SECS for another length.
soak: deps
	$(CARGO) test --release --locked --test tests soak::soak -- --ignored --nocapture --test-threads=1

fuzz-seeds:
	$(CARGO) test --locked --test tests record_fuzz_seeds -- --ignored

clean:
	$(CARGO) clean
	rm -rf dist

# Measurements, not tests: CPU per refresh against the bare kernel dump at
# 100k and 1M entries of two tables, the first refresh, peak RSS,
# allocations per refresh, attribution, the exporters, churn.
# nftop's figures are the static build's, as a router runs it (this
# machine's architecture): the test build links glibc (2 MiB of shared
# pages in its RSS) and another allocator.
BENCH_TARGET = $(shell uname -m)-unknown-linux-musl
bench: deps
	@$(MAKE) --no-print-directory cross TARGET=$(BENCH_TARGET)
	NFTOP_BENCH_BIN=$(CURDIR)/target/$(BENCH_TARGET)/release/nftop \
		$(CARGO) test --release --locked --test tests bench::bench -- --ignored --nocapture --test-threads=1

# ---------------------------------------------------------------------------
# Router builds (no docker): zig from PyPI links every target fully static,
# cargo-zigbuild drives it. Every router target builds std from source with
# the pinned nightly (mips/mipsel are tier 3, armv7 has no std download
# here, and for all of them it buys the size options): panic=immediate-abort,
# a size-optimised std and no unwind tables (nothing unwinds). No panic
# machinery, so the terminal is restored by the SIGABRT/SIGILL/SIGTRAP
# handlers (sys/signals.rs), which is why those exist. Nothing unwinds, so the
# unwind tables zig's C objects bring are discarded at link time
# (.cargo/no-eh-frame.ld, 7.4 KB on mipsel). The linker's --strip-all
# keeps MIPS's .pdr section (66 KB on mipsel); the toolchain's own llvm
# objcopy removes it. docs/router.md ("Building for routers") has the figures.
# --config arrays are appended to .cargo/config.toml's per-target rustflags.
# Stable (pinned too) builds the host and the foreign test binaries.
# `make cross` builds all, `make cross TARGET=mipsel-unknown-linux-musl` one.

# The pinned nightly (stable: rust-toolchain.toml). The machines'
# preinstalled `nightly` is this one (rustc 1.97.0-nightly e50aa6fba);
# anywhere else the dated one is fetched.
NIGHTLY_PIN = nightly-2026-05-20
NIGHTLY ?= $(shell rustc +nightly -V 2>/dev/null | grep -q e50aa6fba && echo nightly || echo $(NIGHTLY_PIN))
ZIG_VERSION = 0.17.1
ZIGBUILD_VERSION = 0.24.1
ALL_TARGETS = x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl
# Targets without a std download for stable here: their test binaries
# (test-foreign) build std from source with nightly too.
NO_STD_TARGETS = armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl \
	s390x-unknown-linux-musl
CROSS_TARGETS = $(if $(TARGET),$(TARGET),$(ALL_TARGETS))
NIGHTLY_SYSROOT = $(shell rustc +$(NIGHTLY) --print sysroot 2>/dev/null)
HOST_TRIPLE = $(shell rustc -vV | sed -n 's/^host: //p')
OBJCOPY = LD_LIBRARY_PATH=$(NIGHTLY_SYSROOT)/lib $(NIGHTLY_SYSROOT)/lib/rustlib/$(HOST_TRIPLE)/bin/rust-objcopy
# OpenWrt architectures per Rust target (one binary can serve several).
OPENWRT_x86_64-unknown-linux-musl = x86_64
OPENWRT_aarch64-unknown-linux-musl = aarch64_cortex-a53 aarch64_generic
OPENWRT_armv7-unknown-linux-musleabihf = arm_cortex-a7_neon-vfpv4
OPENWRT_mipsel-unknown-linux-musl = mipsel_24kc
OPENWRT_mips-unknown-linux-musl = mips_24kc
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

.PHONY: cross cross-deps feed version-check dist vendor-deps

cross-deps:
	@command -v cargo-zigbuild >/dev/null 2>&1 && python3 -m ziglang version >/dev/null 2>&1 || \
		{ python3 -m pip install -q ziglang==$(ZIG_VERSION) cargo-zigbuild==$(ZIGBUILD_VERSION) || \
		  python3 -m pip install -q --break-system-packages ziglang==$(ZIG_VERSION) cargo-zigbuild==$(ZIGBUILD_VERSION); }
	@rustup target add --toolchain $(STABLE) x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null
	@rustup toolchain list | grep -q '^$(NIGHTLY)' || rustup toolchain install $(NIGHTLY) --profile minimal
	@rustup component add --toolchain $(NIGHTLY) rust-src >/dev/null

cross: cross-deps
	@set -e; for t in $(CROSS_TARGETS); do \
		echo "== $$t (nightly, build-std, immediate-abort)"; \
		cargo +$(NIGHTLY) zigbuild --release --locked --target $$t \
			--config "target.$$t.rustflags=['-Zunstable-options','-Cpanic=immediate-abort','-Cforce-unwind-tables=no','-Clink-arg=-Wl,-T,$(CURDIR)/.cargo/no-eh-frame.ld']" \
			-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size; \
		if readelf -lW target/$$t/release/nftop | grep -q INTERP; then \
			echo "target/$$t/release/nftop is not static" >&2; exit 1; fi; \
		$(OBJCOPY) --strip-all target/$$t/release/nftop; \
	done

# The release a packager takes (openwrt/mkdist.sh): the SDK's source
# tarball dist/nftop-<version>.tar.gz (HEAD's tree, crates vendored,
# reproducible) and dist/openwrt/, the package directory for an
# openwrt/packages feed or an SDK, whose Makefile has the tarball's sha256
# as PKG_HASH. The tracked openwrt/Makefile says PKG_HASH:=skip: a file in
# the tree cannot hold the hash of its own tree, so the hash lives only in
# what `make dist` writes, and no commit exists only to carry it.
# The tarball's vendored crates are written by the pinned nightly's cargo
# (vendor output differs between cargo versions; stable moves).
VENDOR_CARGO = cargo +$(NIGHTLY)
vendor-deps:
	@rustup toolchain list | grep -q '^$(NIGHTLY)' || rustup toolchain install $(NIGHTLY) --profile minimal

dist: vendor-deps
	@h=$$(NFTOP_CARGO="$(VENDOR_CARGO)" sh openwrt/mkdist.sh dist $(VERSION)) && \
	echo "dist/nftop-$(VERSION).tar.gz: sha256 $$h; dist/openwrt/Makefile: PKG_HASH:=$$h"

# One version everywhere: Cargo.toml, openwrt/Makefile, the man page (the
# feed takes Cargo.toml's); the tracked openwrt/Makefile keeps the
# placeholder that `make dist` fills in dist/openwrt/Makefile.
version-check:
	@ow=$$(sed -n 's/^PKG_VERSION:=//p' openwrt/Makefile); \
	if [ "$$ow" != "$(VERSION)" ]; then \
		echo "version mismatch: Cargo.toml says $(VERSION), openwrt/Makefile says $$ow" >&2; exit 1; fi
	@man=$$(sed -n 's/^\.TH NFTOP 8 [^ ]* "nftop \([^"]*\)".*/\1/p' openwrt/nftop.8); \
	if [ "$$man" != "$(VERSION)" ]; then \
		echo "version mismatch: Cargo.toml says $(VERSION), openwrt/nftop.8's .TH line says '$$man'" >&2; exit 1; fi
	@h=$$(sed -n 's/^PKG_HASH:=//p' openwrt/Makefile); \
	if [ "$$h" != skip ]; then \
		echo "openwrt/Makefile: PKG_HASH:=$$h, want PKG_HASH:=skip (make dist writes the real one to dist/openwrt/Makefile)" >&2; exit 1; fi

# dist/feed/<arch>/nftop_<version>_<arch>.ipk, Packages, Packages.gz,
# Packages.sig (opkg, OpenWrt 24.10 and older): signed with NFTOP_SIGN_KEY,
# else with a key pair created once in dist/keys (git-ignored, kept across
# builds). Beside it dist/apk/<arch>/nftop-<version>-r<release>.apk and
# packages.adb (apk v3, OpenWrt 25.12), the index signed with NFTOP_APK_KEY
# (PEM EC P-256), else with dist/keys/nftop-apk.key, made once; the public
# key is dist/apk/nftop.pem. NFTOP_APK_UNSIGNED=1 writes the apk index
# unsigned (routers then need apk --allow-untrusted). Both writers print
# the router's commands.
FEED_SPECS = $(foreach t,$(ALL_TARGETS),$(foreach a,$(OPENWRT_$(t)),$(a)=target/$(t)/release/nftop))
feed: version-check cross
	@rm -rf dist/feed dist/apk
	@sh openwrt/mkfeed.sh dist/feed $(VERSION) $(FEED_SPECS)
	@python3 openwrt/mkapk.py $(if $(filter 1,$(NFTOP_APK_UNSIGNED)),--unsigned) dist/apk $(VERSION) $(FEED_SPECS)

# Stripped size per architecture and the .ipk and .apk sizes (builds the
# feeds, so the columns are current); fails when mipsel is over its budget.
SIZE_BUDGET_KIB = 340
size: feed
	@printf '%-34s %10s %8s %10s %10s\n' target bytes KiB ipk apk
	@for t in $(ALL_TARGETS); do \
		b=target/$$t/release/nftop; s=$$(stat -c %s $$b); \
		a=$$(echo "$(foreach t,$(ALL_TARGETS),$(t):$(firstword $(OPENWRT_$(t))))" | tr ' ' '\n' | sed -n "s/^$$t://p"); \
		i=$$(ls dist/feed/$$a/*.ipk | head -1); k=$$(ls dist/apk/$$a/*.apk | head -1); \
		printf '%-34s %10s %8s %10s %10s\n' $$t $$s $$((s / 1024)) $$(stat -c %s $$i) $$(stat -c %s $$k); \
	done
	@s=$$(stat -c %s target/mipsel-unknown-linux-musl/release/nftop); \
	echo "budget: mipsel $$((s / 1024)) KiB of $(SIZE_BUDGET_KIB) KiB stripped"; \
	[ $$s -le $$(($(SIZE_BUDGET_KIB) * 1024)) ] || { echo "mipsel is over budget" >&2; exit 1; }

# The decoder on foreign CPUs under qemu-user, on the recorded dumps:
# mips (big-endian: the fixtures' netlink headers are swapped to host
# order, ctnetlink payloads stay big-endian) and aarch64 (little-endian).
# qemu-user refuses NETLINK_NETFILTER sockets, so only tests that need no
# kernel run here: the library's unit tests and the decode tests. The test
# harness unwinds (std for mips is built with panic_unwind), hence the
# dev profile's panic setting is overridden for these builds.
FOREIGN_TARGETS = mips-unknown-linux-musl aarch64-unknown-linux-musl
.PHONY: test-foreign
test-foreign: cross-deps
	@command -v qemu-mips >/dev/null || { echo "qemu-user missing: make deps" >&2; exit 2; }
	@set -e; for t in $(FOREIGN_TARGETS); do \
		case " $(NO_STD_TARGETS) " in \
		*" $$t "*) tc=+$(NIGHTLY); std=-Zbuild-std=std,panic_unwind ;; \
		*) tc=+$(STABLE); std= ;; esac; \
		echo "== decoder tests on $$t"; \
		cargo $$tc zigbuild --locked --tests --target $$t $$std --message-format=json \
			--config 'profile.dev.panic="unwind"' > target/foreign-$$t.json; \
		sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' target/foreign-$$t.json > target/foreign-$$t.list; \
		grep -q '/tests-' target/foreign-$$t.list && grep -q '/nftop-' target/foreign-$$t.list || \
			{ echo "test-foreign: no test binaries were built for $$t" >&2; exit 1; }; \
		qemu=qemu-$$(echo $$t | cut -d- -f1); \
		for exe in $$(cat target/foreign-$$t.list); do \
			case $$exe in \
			*/tests-*) env -u NFTOP_REQUIRE_NETNS $$qemu $$exe decode:: --test-threads=1 ;; \
			*/nftop-*) $$qemu $$exe --test-threads=1 ;; \
			esac; \
		done; \
	done

# Real kernels: Debian's mipsel (Malta 24Kc), armv7 and aarch64 kernels
# boot under qemu-system with busybox, the conntrack modules and the
# static nftop (tests/vm.sh, tests/vm.rs); s390x too, not a router CPU but
# Debian's only big-endian architecture: the big-endian decoder against a
# live kernel. Packages are cached in
# target/vm; the first run downloads about 150 MB.
VM_TARGETS = mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl \
	s390x-unknown-linux-musl
.PHONY: test-vm
test-vm:
	@$(MAKE) --no-print-directory cross TARGET="$(VM_TARGETS)"
	NFTOP_REQUIRE_VM=1 $(CARGO) test --locked --test tests vm:: -- --include-ignored --test-threads=2

# Cross.toml checked by cross-rs itself (no docker needed; see the script).
CROSS_VERSION = 0.2.5
.PHONY: lint-cross
lint-cross: cross-deps
	@[ -x target/tools/bin/cross ] || $(CARGO) +$(STABLE) install -q --locked cross --version $(CROSS_VERSION) --root target/tools
	@sh tests/lint-cross.sh target/tools/bin/cross $(NIGHTLY)
