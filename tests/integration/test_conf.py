"""`yubin conf`: postconf-like output, editing, errors."""
import os
import subprocess

from conftest import YUBIN


def conf(d, *args):
    return subprocess.run([YUBIN, "-c", str(d), "conf"] + list(args), capture_output=True, text=True)


def write(d, name, text):
    with open(os.path.join(str(d), name), "w") as f:
        f.write(text)


def test_conf_shows_set_and_default_values(tmp_path):
    write(tmp_path, "main.cf", "myhostname = mx.example.test\nsmtpd_timeout = 10m\n")
    r = conf(tmp_path, "-n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "myhostname = mx.example.test\nsmtpd_timeout = 10m\n"
    r = conf(tmp_path)
    assert "smtpd_recipient_limit = 1000\n" in r.stdout
    assert "mydestination = $myhostname, localhost.$mydomain, localhost\n" in r.stdout
    lines = r.stdout.splitlines()
    assert lines == sorted(lines)
    r = conf(tmp_path, "-x", "mydestination", "smtpd_banner")
    assert r.stdout == ("mydestination = mx.example.test, localhost.example.test, localhost\n"
                        "smtpd_banner = mx.example.test ESMTP yubin\n")
    r = conf(tmp_path, "-h", "smtpd_timeout")
    assert r.stdout == "10m\n"
    r = conf(tmp_path, "-d", "smtpd_timeout", "message_size_limit")
    assert r.stdout == "smtpd_timeout = ${stress?{10}:{300}}s\nmessage_size_limit = 10240000\n"


def test_conf_unknown_name_warns_exit_0(tmp_path):
    write(tmp_path, "main.cf", "")
    r = conf(tmp_path, "no_such_thing", "myorigin")
    assert r.returncode == 0
    assert "yubin: warning: no_such_thing: unknown parameter" in r.stderr
    assert r.stdout == "myorigin = $myhostname\n"


def test_conf_errors_exit_1(tmp_path):
    write(tmp_path, "main.cf", "myhostname = a.b\nsmtpd_timeout = 3x\n")
    r = conf(tmp_path)
    assert r.returncode == 1
    assert "main.cf:2: error: smtpd_timeout: bad time value \"3x\"" in r.stderr


def test_conf_master(tmp_path):
    write(tmp_path, "main.cf", "")
    write(tmp_path, "master.cf", "smtp inet n - y - - smtpd\n"
                                 "127.0.0.1:2525 inet n - n - - smtpd\n"
                                 "  -o { smtpd_client_restrictions = permit_mynetworks, reject }\n"
                                 "qmgr unix n - n 300? 1 qmgr\n")
    r = conf(tmp_path, "-M")
    assert r.returncode == 0
    assert r.stdout == (
        "smtp       inet  n       -       y       -       -       smtpd\n"
        "127.0.0.1:2525 inet n    -       n       -       -       smtpd"
        " -o {smtpd_client_restrictions=permit_mynetworks, reject}\n"
        "qmgr       unix  n       -       n       300?    1       qmgr\n")
    assert "master.cf:1: warning: service smtp: chroot is not implemented" in r.stderr
    r = conf(tmp_path, "-M", "qmgr/unix")
    assert r.stdout.startswith("qmgr ")


def test_conf_edit_keeps_comments(tmp_path):
    write(tmp_path, "main.cf", "# keep me\nmydestination = a,\n  b\n# and me\nrelayhost = x\n")
    r = conf(tmp_path, "-e", "mydestination = new", "mynetworks=127.0.0.0/8")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(str(tmp_path), "main.cf")) as f:
        assert f.read() == ("# keep me\nmydestination = new\n# and me\nrelayhost = x\n"
                            "mynetworks = 127.0.0.0/8\n")
    r = conf(tmp_path, "-e", "bad name=1")
    assert r.returncode == 1
