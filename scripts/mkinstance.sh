#!/bin/sh
# Create a working local yubin instance in DIR (used by `make run`):
# main.cf, master.cf, a SQLite mailbox database, a self-signed certificate.
# An existing DIR/main.cf is left alone.
#   mkinstance.sh DIR
set -e
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

YUBIN=${YUBIN:-$(cd "$(dirname "$0")/.." && pwd)/build/yubin}

summary() {
    cat <<EOF
yubin instance in $DIR
  smtp            127.0.0.1:2525   STARTTLS offered, no AUTH, mail for example.test only
                  (try: swaks --server 127.0.0.1:2525 --to test@example.test)
  submission      127.0.0.1:2587   STARTTLS required, then AUTH (relaying needs AUTH)
  smtps           127.0.0.1:2465   implicit TLS, AUTH
                  user test@example.test, password in $DIR/test-password
                  (try: swaks --server 127.0.0.1:2587 --tls -a PLAIN --auth-user test@example.test
                        --auth-password "\$(cat $DIR/test-password)" --to test@example.test)
  imap            127.0.0.1:2143   STARTTLS (plaintext LOGIN only after it, or from 127.0.0.1 to itself)
  imaps           127.0.0.1:2993   implicit TLS
                  (try: curl -k imaps://127.0.0.1:2993/ -u "test@example.test:\$(cat $DIR/test-password)")
  pop3            127.0.0.1:2110   STLS (USER/PASS only after it, or from 127.0.0.1 to itself)
  pop3s           127.0.0.1:2995   implicit TLS
                  (try: curl -k pop3s://127.0.0.1:2995/ -u "test@example.test:\$(cat $DIR/test-password)")
  managesieve     127.0.0.1:24190  ManageSieve (RFC 5804): STARTTLS, AUTHENTICATE; SETACTIVE makes
                  test.sieve a link to $DIR/sieve/example.test/test/NAME.sieve
                  (try: sieve-connect -s 127.0.0.1 -p 24190 -u test@example.test --list)
  lmtp            $DIR/queue/private/dovecot-lmtp   LMTP (Postfix: lmtp:unix:...), with Sieve
                  (test@example.test's script: $DIR/sieve/example.test/test.sieve;
                   try: printf 'Subject: [list] hi\n\nhello\n' |
                        ./build/yubin deliver -c $DIR -d test@example.test)
  mail for test@example.test lands in $DIR/mail/example.test/test/new/
  log             the terminal (set maillog_file in $DIR/main.cf for a file)
  run             ./build/yubin -c $DIR start-fg
EOF
}

if [ -e "$DIR/main.cf" ]; then
    echo "$DIR/main.cf exists: leaving the instance as it is"
    summary
    exit 0
fi

for tool in sqlite3 openssl; do
    command -v $tool >/dev/null 2>&1 ||
        { echo "$0: $tool is missing (make deps installs it)" >&2; exit 1; }
done

# Mailboxes belong to vmail when we are root, else to whoever runs this.
if [ "$(id -u)" = 0 ] && getent passwd vmail >/dev/null; then
    VUID=$(id -u vmail); VGID=$(id -g vmail)
else
    VUID=$(id -u); VGID=$(id -g)
fi
MINUID=100
[ "$VUID" -lt 100 ] && MINUID=$VUID

mkdir -p "$DIR/mail" "$DIR/tls"
chown "$VUID:$VGID" "$DIR/mail" 2>/dev/null || true

cat > "$DIR/main.cf" <<EOF
# yubin main.cf for a local test instance (Postfix main.cf syntax and names).
compatibility_level = 3.6
myhostname = mail.example.test
mydomain = example.test
queue_directory = $DIR/queue
data_directory = $DIR/data
# Logs go to the terminal with start-fg (syslog with start); to use a file:
#maillog_file = $DIR/maillog
inet_interfaces = 127.0.0.1
inet_protocols = ipv4

# Virtual mailboxes: domains, users and aliases in $DIR/mail.sqlite.
virtual_mailbox_domains = example.test
virtual_mailbox_base = $DIR/mail
virtual_mailbox_maps = sqlite:$DIR/vmailbox.cf
virtual_alias_maps = sqlite:$DIR/valias.cf
virtual_uid_maps = static:$VUID
virtual_gid_maps = static:$VGID
virtual_minimum_uid = $MINUID

# Local aliases (yubin newaliases builds hash: tables; texthash: needs no build).
alias_maps = texthash:$DIR/aliases
alias_database = texthash:$DIR/aliases

# TLS: STARTTLS offered on port 25, required on submission, implicit on smtps.
smtpd_tls_cert_file = $DIR/tls/cert.pem
smtpd_tls_key_file = $DIR/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes

# SMTP AUTH through yubin's auth service (the Dovecot protocol), users in SQLite.
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_authenticated_header = yes
auth_passdb = sqlite:$DIR/passdb.cf

# IMAP (imap, imaps in master.cf): logins through the same auth service; the
# sessions run as the mailbox owner (the passdb has no uid/gid: Dovecot's fallbacks).
mail_uid = $VUID
mail_gid = $VGID
first_valid_uid = $MINUID

# Final delivery with Sieve (Dovecot's settings): the LMTP server on
# queue/private/dovecot-lmtp (master.cf) and yubin deliver use them.
sieve = $DIR/sieve/%d/%n.sieve
# ManageSieve keeps the scripts here; SETACTIVE points the file above at one
sieve_dir = $DIR/sieve/%d/%n
lda_mailbox_autocreate = yes
recipient_delimiter = +
EOF

cat > "$DIR/master.cf" <<EOF
# service        type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:2525   inet  n       -       n       -       -       smtpd
127.0.0.1:2587   inet  n       -       n       -       -       smtpd
  -o syslog_name=yubin/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:2465   inet  n       -       n       -       -       smtpd
  -o syslog_name=yubin/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:2143   inet  n       -       n       -       1       imapd
127.0.0.1:2993   inet  n       -       n       -       1       imapd
  -o syslog_name=yubin/imaps
  -o imapd_tls_wrappermode=yes
127.0.0.1:2110   inet  n       -       n       -       1       pop3d
127.0.0.1:2995   inet  n       -       n       -       1       pop3d
  -o syslog_name=yubin/pop3s
  -o pop3d_tls_wrappermode=yes
127.0.0.1:24190  inet  n       -       n       -       1       managesieved
auth             unix  -       -       n       -       1       auth
dovecot-lmtp     unix  -       n       n       -       -       lmtpd
pickup           unix  n       -       n       60      1       pickup
qmgr             unix  n       -       n       300     1       qmgr
virtual          unix  -       n       n       -       -       virtual
local            unix  -       n       n       -       -       local
smtp             unix  -       -       n       -       -       smtp
relay            unix  -       -       n       -       -       smtp
proxymap         unix  -       -       n       -       -       proxymap
EOF

cat > "$DIR/vmailbox.cf" <<EOF
dbpath = $DIR/mail.sqlite
query = SELECT maildir FROM mailbox WHERE email = '%s'
EOF
cat > "$DIR/valias.cf" <<EOF
dbpath = $DIR/mail.sqlite
query = SELECT goto FROM alias WHERE address = '%s'
EOF
cat > "$DIR/passdb.cf" <<EOF
dbpath = $DIR/mail.sqlite
query = SELECT password FROM mailbox WHERE email = '%s'
EOF
printf 'postmaster: test@example.test\nabuse: postmaster\n' > "$DIR/aliases"

mkdir -p "$DIR/sieve/example.test"
cat > "$DIR/sieve/example.test/test.sieve" <<'EOF'
# Sieve for test@example.test (RFC 5228), run by the LMTP server and `yubin deliver`.
require ["fileinto", "imap4flags"];
# mailing-list mail goes to the folder Lists (created on first use)
if header :contains "subject" "[list]" {
    fileinto "Lists";
    stop;
}
# anything marked urgent is flagged
if header :contains "subject" "urgent" {
    addflag "\\Flagged";
}
EOF
chmod 755 "$DIR/sieve" "$DIR/sieve/example.test"
# ManageSieve runs as the mail user: it writes the scripts and the link here
chown "$VUID:$VGID" "$DIR/sieve/example.test" 2>/dev/null || true
chmod 644 "$DIR/sieve/example.test/test.sieve"

PASSWORD=$(openssl rand -base64 12 | tr -d '/+=' | cut -c1-12)
HASH=$("$YUBIN" pw -s SHA512-CRYPT -p "$PASSWORD")
umask 077
printf '%s\n' "$PASSWORD" > "$DIR/test-password"
umask 022

rm -f "$DIR/mail.sqlite"
sqlite3 "$DIR/mail.sqlite" <<'EOF'
CREATE TABLE domains (domain TEXT PRIMARY KEY);
CREATE TABLE mailbox (email TEXT PRIMARY KEY, maildir TEXT NOT NULL, password TEXT);
CREATE TABLE alias (address TEXT PRIMARY KEY, goto TEXT NOT NULL);
INSERT INTO domains VALUES ('example.test');
INSERT INTO alias VALUES ('postmaster@example.test', 'test@example.test');
EOF
sqlite3 "$DIR/mail.sqlite" "INSERT INTO mailbox VALUES ('test@example.test', 'example.test/test/', '$HASH');"
# The database holds password hashes: readable by mail_owner (yubin), nobody else.
if [ "$(id -u)" = 0 ] && getent group yubin >/dev/null; then
    chgrp yubin "$DIR/mail.sqlite" && chmod 640 "$DIR/mail.sqlite"
else
    chmod 600 "$DIR/mail.sqlite"
fi

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mail.example.test \
    -keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" >/dev/null 2>&1
chmod 600 "$DIR/tls/key.pem"

summary
