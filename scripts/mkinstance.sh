#!/bin/sh
# Create a working local yubin instance in DIR (used by `make run`):
# main.cf, master.cf, a SQLite mailbox database, a self-signed certificate.
# An existing DIR/main.cf is left alone.
#   mkinstance.sh DIR
set -e
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

summary() {
    cat <<EOF
yubin instance in $DIR
  SMTP            127.0.0.1:2525   (try: swaks --server 127.0.0.1:2525 --to test@example.test)
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

# TLS for submission/smtps: uncomment once TLS is implemented (a later issue).
#smtpd_tls_cert_file = $DIR/tls/cert.pem
#smtpd_tls_key_file = $DIR/tls/key.pem
EOF

cat > "$DIR/master.cf" <<EOF
# service        type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:2525   inet  n       -       n       -       -       smtpd
# Submission and SMTPS need TLS and SASL (a later issue); enable them then:
#127.0.0.1:2587  inet  n       -       n       -       -       smtpd
#  -o smtpd_tls_security_level=encrypt
#  -o smtpd_sasl_auth_enable=yes
#127.0.0.1:2465  inet  n       -       n       -       -       smtpd
#  -o smtpd_tls_wrappermode=yes
#  -o smtpd_sasl_auth_enable=yes
pickup           unix  n       -       n       60      1       pickup
qmgr             unix  n       -       n       300     1       qmgr
virtual          unix  -       n       n       -       -       virtual
local            unix  -       n       n       -       -       local
smtp             unix  -       -       n       -       -       smtp
relay            unix  -       -       n       -       -       smtp
EOF

cat > "$DIR/vmailbox.cf" <<EOF
dbpath = $DIR/mail.sqlite
query = SELECT maildir FROM mailbox WHERE email = '%s'
EOF
cat > "$DIR/valias.cf" <<EOF
dbpath = $DIR/mail.sqlite
query = SELECT goto FROM alias WHERE address = '%s'
EOF

rm -f "$DIR/mail.sqlite"
sqlite3 "$DIR/mail.sqlite" <<'EOF'
CREATE TABLE domains (domain TEXT PRIMARY KEY);
CREATE TABLE mailbox (email TEXT PRIMARY KEY, maildir TEXT NOT NULL);
CREATE TABLE alias (address TEXT PRIMARY KEY, goto TEXT NOT NULL);
INSERT INTO domains VALUES ('example.test');
INSERT INTO mailbox VALUES ('test@example.test', 'example.test/test/');
INSERT INTO alias VALUES ('postmaster@example.test', 'test@example.test');
EOF

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mail.example.test \
    -keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" >/dev/null 2>&1
chmod 600 "$DIR/tls/key.pem"

summary
