#!/bin/sh
# Lints Cross.toml with cross-rs itself, without docker: cross parses its
# configuration (and warns about unused keys) before it starts a container
# engine, and CROSS_CONTAINER_ENGINE=/bin/false makes that step fail at once
# whether or not docker runs here. A file is accepted when cross got as far
# as the engine without a parse error or an unused-key warning. A copy with
# a misspelled key must be rejected first, so the check itself can fail.
#
#   sh tests/lint-cross.sh CROSS_BINARY TOOLCHAIN
set -eu
cross=${1:?usage: tests/lint-cross.sh CROSS_BINARY TOOLCHAIN}
toolchain=${2:?usage: tests/lint-cross.sh CROSS_BINARY TOOLCHAIN}

verdict() {
	out=$(CROSS_CONFIG="$1" CROSS_CONTAINER_ENGINE=/bin/false \
		"$cross" "+$toolchain" build --target mipsel-unknown-linux-musl </dev/null 2>&1 || true)
	if echo "$out" | grep -q -i -e 'unused key' -e 'failed to parse' -e 'invalid type'; then
		echo rejected
	elif echo "$out" | grep -q '/bin/false'; then
		echo accepted
	else
		echo "unexpected: $out"
	fi
}

bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
sed 's/^build-std = true/build-stdd = true/' Cross.toml > "$bad"
v=$(verdict "$bad")
[ "$v" = rejected ] || { echo "lint-cross: a misspelled key was not caught ($v)" >&2; exit 1; }
v=$(verdict "$PWD/Cross.toml")
[ "$v" = accepted ] || { echo "lint-cross: cross-rs rejects Cross.toml: $v" >&2; exit 1; }
echo "Cross.toml: accepted by $("$cross" --version 2>/dev/null | head -1)"
