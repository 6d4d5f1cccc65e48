#!/bin/sh
# Install the Debian packages yubin needs when they are missing.
#   deps.sh build   compiler and libraries
#   deps.sh test    the above plus test clients and interop peers
#   deps.sh fuzz    the build set plus clang and libFuzzer (make fuzz)
set -e
BUILD_PKGS="gcc make pkg-config libssl-dev libpcre2-dev liblmdb-dev libsqlite3-dev libc-ares-dev libcrypt-dev libargon2-dev libpq-dev libmariadb-dev libldap-dev openssl sqlite3"
TEST_PKGS="python3 python3-pytest python3-pytest-xdist python3-aiosmtpd swaks libnet-ssleay-perl postfix postfix-lmdb postfix-pcre postfix-mysql postfix-pgsql dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve dovecot-managesieved sieve-connect isync fetchmail mutt tmux postgresql mariadb-server slapd ldap-utils opendkim opendkim-tools clamav-daemon clamav-milter spamd spamass-milter"
FUZZ_PKGS="clang-14 libclang-rt-14-dev"
want="$BUILD_PKGS"
[ "$1" = test ] && want="$BUILD_PKGS $TEST_PKGS"
[ "$1" = fuzz ] && want="$BUILD_PKGS $FUZZ_PKGS"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
ensure_users() {
    # mail_owner (unprivileged daemons) and the owner of virtual mailboxes.
    [ "$(id -u)" = 0 ] || return 0
    getent group yubin >/dev/null || groupadd --system yubin
    getent passwd yubin >/dev/null ||
        useradd --system -g yubin -d /var/spool/yubin -s /usr/sbin/nologin -c "yubin mail system" yubin
    getent group vmail >/dev/null || groupadd --system vmail
    getent passwd vmail >/dev/null ||
        useradd --system -g vmail -d /var/mail/vhosts -s /usr/sbin/nologin -c "virtual mailboxes" vmail
}
if [ -z "$missing" ]; then ensure_users; exit 0; fi
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
# Likewise Dovecot (an interop peer of the auth and IMAP tests, the IMAP benchmark baseline)
# runs only under the tests, each from its own dovecot.conf on loopback high ports.
if command -v dovecot >/dev/null 2>&1; then dovecot stop >/dev/null 2>&1 || true; fi
# PostgreSQL and MariaDB are test peers of the pgsql:/mysql: tables: the tests start private
# servers in temporary directories; a system server the packages may have started is stopped.
stop_service() {
    case " $missing " in *" $1 "*)
        if command -v service >/dev/null 2>&1; then service "$2" stop >/dev/null 2>&1 || true; fi ;;
    esac
}
stop_service postgresql postgresql
stop_service mariadb-server mariadb
# slapd and the milters (with clamd, freshclam and spamd) likewise: the tests start their own.
stop_service slapd slapd
stop_service opendkim opendkim
stop_service clamav-milter clamav-milter
stop_service clamav-daemon clamav-daemon
stop_service clamav-daemon clamav-freshclam
stop_service spamass-milter spamass-milter
stop_service spamd spamd
ensure_users
