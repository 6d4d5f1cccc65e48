"""
`yubin check` and the TLS configuration: certificates and keys are only
checked for smtpd services that use TLS (main.cf or a master.cf -o
override), errors name the parameter, the file and where it was set, and
expiring certificates give warnings. Certificates are made with openssl(1).
"""
import os
import subprocess

import pytest


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_cert(inst, name, days=365, cn="mx.example.test", key_type="rsa:2048"):
    """inst.dir/NAME.key and NAME.crt; returns (key, crt)."""
    key, crt = inst.path(name + ".key"), inst.path(name + ".crt")
    openssl("req", "-x509", "-newkey", key_type, "-nodes", "-days", str(days),
            "-subj", "/CN=" + cn, "-keyout", key, "-out", crt)
    return key, crt


def check(inst):
    inst.write_config()
    r = inst.cmd("check")
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def tls_instance(instance):
    return instance()


def main_cf_line(inst, param):
    with open(inst.path("main.cf")) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(param + " "):
                return n
    raise AssertionError(param + " not in main.cf")


def test_good_configuration_is_quiet(tls_instance):
    inst = tls_instance
    key, crt = make_cert(inst, "rsa")
    inst.params.update({"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": crt,
                        "smtpd_tls_key_file": key})
    rc, out = check(inst)
    assert rc == 0, out
    assert "configuration OK" in out
    assert "warning" not in out


def test_missing_key_stops_check_and_names_the_file(tls_instance):
    inst = tls_instance
    key, crt = make_cert(inst, "rsa")
    missing = inst.path("missing.key")
    inst.params.update({"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": crt,
                        "smtpd_tls_key_file": missing})
    rc, out = check(inst)
    assert rc == 1, out
    line = main_cf_line(inst, "smtpd_tls_key_file")
    assert ("main.cf:%d: error: smtpd_tls_key_file %s: No such file or directory"
            % (line, missing)) in out, out
    assert "the mail system will not start" in out


def test_key_of_another_certificate(tls_instance):
    inst = tls_instance
    key1, crt1 = make_cert(inst, "one")
    key2, crt2 = make_cert(inst, "two")
    inst.params.update({"smtpd_use_tls": "yes", "smtpd_tls_cert_file": crt1,
                        "smtpd_tls_key_file": key2})
    rc, out = check(inst)
    assert rc == 1, out
    assert "does not match the certificate" in out
    assert crt1 in out


def test_tls_off_means_no_certificate_checks(tls_instance):
    inst = tls_instance
    inst.params.update({"smtpd_tls_cert_file": inst.path("nothing.crt")})
    rc, out = check(inst)
    assert rc == 0, out
    assert "nothing.crt" not in out


def test_wrapper_mode_service_without_certificate(tls_instance):
    inst = tls_instance
    inst.master_extra = ("127.0.0.1:%d inet n - n - - smtpd\n"
                         "  -o smtpd_tls_wrappermode=yes\n" % (inst.port + 1))
    rc, out = check(inst)
    assert rc == 1, out
    assert "master.cf:" in out
    assert ("service 127.0.0.1:%d: no server certificate: set smtpd_tls_chain_files"
            % (inst.port + 1)) in out, out


def test_override_names_master_cf_line(tls_instance):
    inst = tls_instance
    key, crt = make_cert(inst, "rsa")
    inst.params.update({"smtpd_tls_cert_file": crt, "smtpd_tls_key_file": key})
    inst.master_extra = ("127.0.0.1:%d inet n - n - - smtpd\n"
                         "  -o smtpd_tls_security_level=encrypt\n"
                         "  -o smtpd_tls_mandatory_protocols=TLSv9\n" % (inst.port + 1))
    rc, out = check(inst)
    assert rc == 1, out
    assert "master.cf:6: error: service 127.0.0.1:%d: invalid smtpd_tls_mandatory_protocols" \
        % (inst.port + 1) in out, out


def test_expiring_certificate_is_a_warning(tls_instance):
    inst = tls_instance
    key, crt = make_cert(inst, "soon", days=5)
    inst.params.update({"smtpd_tls_security_level": "may", "smtpd_tls_chain_files": key + " " + crt})
    rc, out = check(inst)
    assert rc == 0, out
    assert "warning:" in out and "the certificate expires on" in out, out
    assert "configuration OK (1 warning)" in out


def test_chain_files_in_the_wrong_order(tls_instance):
    inst = tls_instance
    key, crt = make_cert(inst, "rsa")
    inst.params.update({"smtpd_tls_security_level": "may", "smtpd_tls_chain_files": crt + ", " + key})
    rc, out = check(inst)
    assert rc == 1, out
    assert "certificate without a private key before it" in out


def test_sni_map_entries(tls_instance):
    inst = tls_instance
    key, crt = make_cert(inst, "rsa")
    skey, scrt = make_cert(inst, "sni", cn="mail.example.org")
    inst.write("sni", "mail.example.org %s %s\nbad.example.org %s\n"
               % (skey, scrt, inst.path("absent.pem")))
    inst.params.update({"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": crt,
                        "smtpd_tls_key_file": key,
                        "tls_server_sni_maps": "texthash:" + inst.path("sni")})
    rc, out = check(inst)
    assert rc == 1, out
    assert "absent.pem: No such file or directory" in out, out
    # indexed with "yubin map -F": entries are checked too
    inst.write("sni", "mail.example.org %s %s\n" % (skey, scrt))
    r = inst.cmd("map", "-F", "lmdb:" + inst.path("sni"))
    assert r.returncode == 0, r.stderr
    inst.params["tls_server_sni_maps"] = "lmdb:" + inst.path("sni")
    rc, out = check(inst)
    assert rc == 0, out
