#!/bin/sh
# Install the Debian packages yubin needs when they are missing.
#   deps.sh build   compiler and libraries
#   deps.sh test    the above plus test clients and interop peers
set -e
BUILD_PKGS="gcc make pkg-config libssl-dev libpcre2-dev liblmdb-dev libsqlite3-dev libc-ares-dev libcrypt-dev openssl"
TEST_PKGS="python3 python3-pytest swaks postfix postfix-lmdb postfix-pcre"
want="$BUILD_PKGS"
[ "$1" = test ] && want="$BUILD_PKGS $TEST_PKGS"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix is only an interop peer and benchmark baseline: never configure it as the system MTA.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
# The Debian package may have started a system Postfix on port 25; the tests run their own.
if command -v postfix >/dev/null 2>&1; then postfix stop >/dev/null 2>&1 || true; fi
