# nftop: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else is for developers and packagers.

CARGO ?= cargo
DEB_DEPS = nftables conntrack iproute2 iputils-ping tmux iperf3 socat

.PHONY: all build release demo deps test lint bench size clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release --locked

# Installs what the demo and the tests need from Debian's packages (only
# the missing ones; needs root).
deps:
	@missing=""; for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: deps release
	sh tests/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

# Everything: lint, unit tests, and the namespace/terminal tests (as root;
# without root they skip with a message unless NFTOP_REQUIRE_NETNS=1).
test: deps lint
	$(CARGO) test --locked -- --test-threads=2

clean:
	$(CARGO) clean
	rm -rf dist

# Measurements, not tests: CPU per refresh against the bare kernel dump and
# conntrack -L at 10k and 100k entries, peak RSS, allocations per refresh.
bench: deps
	$(CARGO) test --release --locked --test tests bench::bench -- --ignored --nocapture --test-threads=1
