#!/bin/sh
# make deps: installs the Debian packages the demo and the tests need,
# only the missing ones (needs root). Usage: deps.sh PACKAGE...
#
# qemu: Debian 12 machines may come with a newer qemu-utils from
# bookworm-backports (10.x), which Breaks qemu-system-common < 8.0, so apt
# refuses bookworm's qemu-system-* (7.2) beside it. We then install the
# qemu-* packages already present at bookworm's version too (one matching
# set; apt --allow-downgrades), and say so: qemu-img stays available, at
# 7.2. Nothing else that is installed is changed.
set -eu
missing=""
for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
echo "installing:$missing"
apt-get update -qq
extra=""
case "$missing" in
*qemu-system*)
    # The newest version the configured archives offer for qemu-system.
    want=$(apt-cache madison qemu-system-common | awk '{print $3}' | sort -V | tail -1)
    for q in qemu-utils qemu-block-extra qemu-system-common qemu-system-data qemu-user; do
        have=$(dpkg-query -W -f '${Version}' "$q" 2>/dev/null || true)
        if [ -n "$have" ] && [ -n "$want" ] && [ "$have" != "$want" ] &&
            ! apt-cache madison qemu-system-common | awk '{print $3}' | grep -qx "$have"; then
            echo "make deps: $q $have is not from the configured archives; installing $want to match qemu-system $want (apt would refuse qemu-system beside it)"
            extra="$extra $q=$want"
        fi
    done
    ;;
esac
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades $missing $extra >/dev/null
