"""yubin map (postmap) and yubin newaliases: building, querying, listing,
updating, exit codes and error messages; answers compared with Postfix's
postmap where it is installed."""
import os
import shutil
import subprocess

import pytest


def make_inst(instance):
    inst = instance()
    inst.write_config()
    return inst


def test_build_query_list(instance):
    inst = make_inst(instance)
    src = inst.write("virtual", "# comment\nUser@Example.COM  local1\n"
                                "multi  one,\n  two\n\"a b\"@x.test  quoted\n")
    r = inst.cmd("map", src)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(src + ".lmdb")
    assert not os.path.exists(src + ".lmdb.tmp")
    r = inst.cmd("map", "-q", "USER@example.com", "hash:" + src)
    assert (r.returncode, r.stdout) == (0, "local1\n")
    r = inst.cmd("map", "-q", "multi", "lmdb:" + src)
    assert r.stdout == "one,  two\n"
    r = inst.cmd("map", "-q", '"a b"@x.test', src)
    assert r.stdout == "quoted\n"
    r = inst.cmd("map", "-q", "nobody", src)
    assert (r.returncode, r.stdout) == (1, "")
    r = inst.cmd("map", "-q", "-", src, input="multi\nnobody\nuser@example.com\n")
    assert r.returncode == 0
    assert r.stdout == "multi\tone,  two\nuser@example.com\tlocal1\n"
    r = inst.cmd("map", "-q", "-", src, input="nobody\n")
    assert r.returncode == 1
    r = inst.cmd("map", "-s", src)
    assert sorted(r.stdout.splitlines()) == sorted(
        ['"a b"@x.test\tquoted', "multi\tone,  two", "user@example.com\tlocal1"])


def test_errors_and_exit_codes(instance):
    inst = make_inst(instance)
    missing = inst.path("never-built")
    r = inst.cmd("map", "-q", "x", "hash:" + missing)
    assert r.returncode == 2
    assert "never-built.lmdb: No such file or directory; run yubin map hash:" in r.stderr
    bad = inst.write("bad", "ok value\n\n  leading\nnovalue\n")
    r = inst.cmd("map", bad)
    assert r.returncode == 2
    assert "bad:4: expected format: key whitespace value" in r.stderr
    assert not os.path.exists(bad + ".lmdb")
    rx = inst.write("rx", "/a/ b\n/c(/ d\n")
    r = inst.cmd("map", "regexp:" + rx)   # not buildable: checked
    assert r.returncode == 2 and "rx:2:" in r.stderr
    r = inst.cmd("map", "-q", "x", "nosuchtype:/x")
    assert r.returncode == 2 and "unsupported lookup table type" in r.stderr
    r = inst.cmd("map", "-q", "x", "fail:broken")
    assert r.returncode == 2
    r = inst.cmd("map")
    assert r.returncode == 2 and "usage:" in r.stderr
    r = inst.cmd("map", "-Z", "x")
    assert r.returncode == 2


def test_pattern_and_inline_queries(instance):
    inst = make_inst(instance)
    rx = inst.write("rx", "/^(.*)@example\\.com$/ user-$1\n")
    r = inst.cmd("map", "-q", "joe@example.com", "regexp:" + rx)
    assert r.stdout == "user-joe\n"
    cidr = inst.write("cidr", "10.0.0.0/8 ten\n")
    r = inst.cmd("map", "-q", "10.1.2.3", "cidr:" + cidr)
    assert r.stdout == "ten\n"
    r = inst.cmd("map", "-q", "k", "inline:{k=v}")
    assert r.stdout == "v\n"
    r = inst.cmd("map", "-q", "k", "inline:{a=1}", "static:fallback")
    assert r.stdout == "fallback\n"


def test_files_update_delete(instance):
    inst = make_inst(instance)
    pem = inst.write("cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n")
    sni = inst.write("sni", "mail.example.com %s\n" % pem)
    assert inst.cmd("map", "-F", "hash:" + sni).returncode == 0
    r = inst.cmd("map", "-q", "mail.example.com", sni)
    assert r.stdout == "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEK\n"
    r = inst.cmd("map", "-F", "-q", "mail.example.com", sni)
    assert r.stdout == "-----BEGIN CERTIFICATE-----\nAAAA\n"

    src = inst.write("upd", "a 1\n")
    assert inst.cmd("map", src).returncode == 0
    r = inst.cmd("map", "-i", src, input="B 2\na 9\n")
    assert r.returncode == 0
    assert "duplicate entry" in r.stderr
    assert inst.cmd("map", "-q", "b", src).stdout == "2\n"
    assert inst.cmd("map", "-q", "a", src).stdout == "1\n"
    assert inst.cmd("map", "-ir", src, input="a 9\n").returncode == 0
    assert inst.cmd("map", "-q", "a", src).stdout == "9\n"
    assert inst.cmd("map", "-d", "A", src).returncode == 0
    assert inst.cmd("map", "-q", "a", src).returncode == 1
    assert inst.cmd("map", "-d", "a", src).returncode == 1
    assert inst.cmd("map", "-d", "-", src, input="b\n").returncode == 0
    assert inst.cmd("map", "-s", src).stdout == ""


def test_no_fold(instance):
    inst = make_inst(instance)
    src = inst.write("cs", "MixedCase v\n")
    assert inst.cmd("map", "-f", src).returncode == 0
    assert inst.cmd("map", "-f", "-q", "MixedCase", src).stdout == "v\n"
    assert inst.cmd("map", "-q", "MixedCase", src).returncode == 1


def test_newaliases(instance):
    inst = instance(main={"alias_database": "hash:$config_directory/aliases",
                          "alias_maps": "hash:$config_directory/aliases"})
    inst.write_config()
    inst.write("aliases", "Root: admin,  other\n\tthird\n\"Quoted Name\": x\n"
                          "prog: \"|/bin/cat  -\"\n")
    r = inst.cmd("newaliases")
    assert r.returncode == 0, r.stderr
    db = inst.path("aliases")
    assert inst.cmd("map", "-q", "root", db).stdout == "admin, other third\n"
    assert inst.cmd("map", "-q", "quoted name", db).stdout == "x\n"
    assert inst.cmd("map", "-q", "prog", db).stdout == '"|/bin/cat  -"\n'
    assert inst.cmd("map", "-q", "@", db).stdout == "@\n"
    inst.write("aliases", "ok: x\nbroken line\n")
    r = inst.cmd("newaliases")
    assert r.returncode == 2
    assert "aliases:2: need name:value pair" in r.stderr
    # the old database is still there and intact
    assert inst.cmd("map", "-q", "root", db).stdout == "admin, other third\n"


@pytest.mark.skipif(not shutil.which("postmap"), reason="Postfix postmap not installed")
def test_same_answers_as_postmap(instance, tmp_path):
    inst = make_inst(instance)
    pf = tmp_path / "pf"
    pf.mkdir()
    (pf / "main.cf").write_text("compatibility_level = 3.6\n")
    text = ("Foo bar\nfoo dup\n\"a b\" q\nmulti one\n\ttwo\n  three\n"
            "# comment\n   # indented comment\nspaced   v  w  \n")
    src = inst.write("cmp", text)
    cidr = inst.write("cmp.cidr", "10.0.0.0/8 ten\n[2001:db8::]/32 six\n!192.168.0.0/16 other\n")
    rx = inst.write("cmp.re", "/^(a+)(b*)$/ got-$1-${2}-$$\nif !/x/\n/^q/ q-not-x\nendif\n")
    assert inst.cmd("map", src).returncode == 0
    keys = ["foo", "FOO", '"a b"', "multi", "spaced", "missing"]
    for k in keys:
        ours = inst.cmd("map", "-q", k, "texthash:" + src)
        theirs = subprocess.run(["postmap", "-c", str(pf), "-q", k, "texthash:" + src],
                                capture_output=True, text=True)
        assert ours.stdout == theirs.stdout, k
        assert (ours.returncode == 0) == (theirs.returncode == 0), k
        ours = inst.cmd("map", "-q", k, "hash:" + src)
        assert ours.stdout == theirs.stdout, k
    for table, ks in (("cidr:" + cidr, ["10.1.1.1", "2001:db8::1", "1.2.3.4", "192.168.1.1",
                                        "[10.1.1.1]", "junk"]),
                      ("regexp:" + rx, ["aab", "a", "AAB", "q", "qx", "zzz"])):
        for k in ks:
            ours = inst.cmd("map", "-q", k, table)
            theirs = subprocess.run(["postmap", "-c", str(pf), "-q", k, table],
                                    capture_output=True, text=True)
            assert ours.stdout == theirs.stdout, (table, k)
