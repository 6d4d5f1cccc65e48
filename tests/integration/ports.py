"""
free_port(): loopback ports for the test servers (used by conftest.py and
dovecot.py; no pytest import, so the benchmarks can use it too).
"""
import os
import socket
import time

# Ports for test servers come from 20000-31999, below the kernel's ephemeral
# range (32768-60999), so a client connection made meanwhile can never take a
# port between the moment it is chosen here and the moment the server binds
# it. Each pytest-xdist worker (gw0, gw1, ...) has its own slice; within it,
# ports are handed out in turn from an offset that differs from run to run.
_PORT_LO, _PORT_SLICE = 20000, 1500
_port_next = None


def _port_slice():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(worker[2:]) if worker[2:].isdigit() else 0
    return _PORT_LO + (n % 8) * _PORT_SLICE


def free_port():
    """A loopback TCP port nobody listens on right now."""
    global _port_next
    lo = _port_slice()
    if _port_next is None:
        _port_next = (os.getpid() * 7919 + int(time.time())) % _PORT_SLICE
    for _ in range(_PORT_SLICE):
        port = lo + _port_next
        _port_next = (_port_next + 1) % _PORT_SLICE
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free test port in %d-%d" % (lo, lo + _PORT_SLICE - 1))
