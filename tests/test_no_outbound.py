"""Nothing leaves the machine: the real server, started as the container starts it, connects to
no outside address at start-up nor while a browser loads the app for the first time.

The server runs unmodified (``streamlit run app.py`` with the Dockerfile's ENTRYPOINT flags, so
``--server.address=0.0.0.0`` as in the image, and .streamlit/config.toml). A ``sitecustomize``
module on PYTHONPATH -- loaded by Python itself before anything else -- wraps the socket calls
that reach the network (``connect``, ``connect_ex``, ``sendto``, ``getaddrinfo``): each call is
appended to a log file, and one towards a non-loopback address is refused (so a test run never
sends traffic even when it fails). Streamlit itself is not patched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from conftest import SERVER_START_TIMEOUT_S, free_port, stop_process, wait_for_app
from conftest import wait_healthy as wait_server_healthy

ROOT = Path(__file__).resolve().parents[1]


HOOK = textwrap.dedent('''
    """Test hook: log every network-facing socket call; refuse non-loopback destinations."""
    import ipaddress, json, os, socket

    _LOG = os.environ["GANDEMO_NET_LOG"]
    _LOCAL = {"localhost", "0.0.0.0", "::", "", "None"}


    def _local(host):
        host = str(host).strip("[]")
        if host in _LOCAL:
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False


    def _note(kind, host, port, family=None):
        outside = family != socket.AF_UNIX and not _local(host)
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"call": kind, "host": str(host), "port": str(port),
                                "pid": os.getpid(), "outside": outside}) + "\\n")
        if outside:
            raise OSError(101, f"test hook: outside destination {host!r} refused")


    def _wrap(name):
        original = getattr(socket.socket, name)

        def call(self, *args):
            address = args[-1]
            if self.family == socket.AF_UNIX:
                _note(name, address, "", socket.AF_UNIX)
            else:
                _note(name, address[0], address[1])
            return original(self, *args)

        setattr(socket.socket, name, call)


    for _name in ("connect", "connect_ex", "sendto"):
        _wrap(_name)

    _getaddrinfo = socket.getaddrinfo


    def getaddrinfo(host, port, *args, **kwargs):
        _note("getaddrinfo", host.decode() if isinstance(host, bytes) else host, port)
        return _getaddrinfo(host, port, *args, **kwargs)


    socket.getaddrinfo = getaddrinfo
    with open(_LOG, "a", encoding="utf-8") as _f:  # proof that the hook runs in this process
        _f.write(json.dumps({"call": "loaded", "host": "", "port": "", "pid": os.getpid(),
                             "outside": False}) + "\\n")
''')


def _entrypoint_flags() -> list[str]:
    """The ``streamlit run app.py`` flags of the Dockerfile's ENTRYPOINT."""
    text = (ROOT / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.MULTILINE).group(1))
    assert entry[:3] == ["streamlit", "run", "app.py"]
    return entry[3:]


def _hooked_env(tmp: Path) -> tuple[dict[str, str], Path]:
    (tmp / "sitecustomize.py").write_text(HOOK)
    log = tmp / "net.log"
    log.touch()
    env = {**os.environ, "GANDEMO_NET_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp), os.environ.get("PYTHONPATH")]))}
    return env, log


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_hook_sees_and_refuses_an_outside_connection(tmp_path):
    """The instrument itself: an outside connect and a lookup of an outside name are logged and
    the connect is refused; a loopback connect is logged and allowed through."""
    env, log = _hooked_env(tmp_path)
    script = textwrap.dedent("""
        import socket
        srv = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(srv.getsockname(), timeout=5).close()
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=1)
        except OSError as err:
            print("refused:", err)
        try:
            socket.getaddrinfo("example.invalid", 443)
        except OSError:
            pass
    """)
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "test hook: outside destination '192.0.2.1' refused" in res.stdout
    calls = _calls(log)
    outside = {c["host"] for c in calls if c["outside"]}
    assert {"192.0.2.1", "example.invalid"} <= outside
    assert any(c["call"] == "connect" and c["host"] == "127.0.0.1" and not c["outside"]
               for c in calls)


@pytest.mark.browser
def test_server_makes_no_outside_connection_at_start_and_first_page_load(chromium):
    port = free_port()
    flags = [f for f in _entrypoint_flags() if not f.startswith("--server.port")]
    assert "--server.address=0.0.0.0" in flags  # the image's wildcard address, kept as is
    with tempfile.TemporaryDirectory() as tmp:
        env, log = _hooked_env(Path(tmp))
        server_log = Path(tmp) / "server.log"
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", *flags,
               f"--server.port={port}"]
        with server_log.open("w") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        requested: list[str] = []
        try:
            wait_server_healthy(base, proc, SERVER_START_TIMEOUT_S)
            # the session's Chromium (conftest): a second Playwright in one process would clash
            context = chromium.new_context()
            try:
                page = context.new_page()
                page.on("request", lambda r: requested.append(r.url))
                page.goto(f"{base}/")
                wait_for_app(page, 120_000)
                page.get_by_text(re.compile(r"step \d+ / \d+")).first.wait_for(
                    timeout=120_000)  # the Train page has run its script once
            finally:
                context.close()
        finally:
            stop_process(proc)
        calls = _calls(log)
        text = server_log.read_text()

    server_pids = {c["pid"] for c in calls}
    assert calls and proc.pid in server_pids, "the hook did not load in the server process"
    outside = [c for c in calls if c["outside"]]
    assert not outside, f"outside connections: {outside}\n---- server log ----\n{text[-3000:]}"
    assert "Did not auto detect external IP" not in text, text[-3000:]
    # The browser, too, fetched only from the gandemo server (no fonts, analytics, CDNs).
    assert requested, "the browser made no request at all"
    foreign = [u for u in requested if not u.startswith((base, "data:", "blob:"))]
    assert not foreign, foreign
