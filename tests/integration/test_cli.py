"""The yubin command line: dispatch, usage and exit codes."""
import subprocess


def run(yubin_bin, *args):
    return subprocess.run([yubin_bin] + list(args), capture_output=True, text=True)


def test_version(yubin_bin):
    r = run(yubin_bin, "--version")
    assert r.returncode == 0
    assert r.stdout.startswith("yubin ")


def test_unknown_command_is_usage_error(yubin_bin):
    r = run(yubin_bin, "frobnicate")
    assert r.returncode == 2
    assert 'unknown command "frobnicate"' in r.stderr
    assert "usage: yubin" in r.stderr


def test_no_command_prints_usage(yubin_bin):
    r = run(yubin_bin)
    assert r.returncode == 2
    assert "commands:" in r.stderr
