"""`make image-test`: build the classroom image and prove it on a real Docker engine.

Steps (each prints what it measured; any failure exits 1 with the container's log):
1. ``docker build`` (build arguments PYTHON_IMAGE / TORCH_INDEX_URL from the environment);
2. ``docker run`` with compose.yaml's settings (init, environment, cpu/memory limits, shm,
   read-only root, tmpfs, security options, logging; the health probe every 2 s instead of 30 s
   so "healthy" is seen early), then wait for Docker to report the container healthy;
3. inside: the user is 10001 (not root), HOME is writable by it (compose's tmpfs), /app is
   read-only, the pinned packages import (torch CPU-only, pot, imageio, imageio-ffmpeg);
4. headless Chromium (Playwright on /usr/bin/chromium, as the browser tests): open the Train
   page, press Start, see the step counter move; then, while it trains, exactly GANDEMO_WORKERS
   (compose's environment) worker processes run ``gandemo.hosts import serve``, as uid 10001,
   niceness >= 10, children of the streamlit server (read from /proc: the image has no ps);
   pause, download the PNG export;
5. ``docker stop`` (10 s grace): the app must exit by itself before Docker's SIGKILL.

Where no Docker engine answers, it prints SKIPPED and why, and exits 0.
Where the engine has no bridge network (a development machine run with ``--bridge=none``) the
build and the container use the host network and the server listens on 127.0.0.1:8501 only.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # conftest: Chromium path/flags, wait_for_app

IMAGE = os.environ.get("GANDEMO_IMAGE_TAG", "gandemo:image-test")
NAME = f"gandemo-image-test-{os.getpid()}"
ARTIFACTS = ROOT / "test-artifacts"
BUILD_ARGS = ("PYTHON_IMAGE", "TORCH_INDEX_URL")
HEALTH_TIMEOUT_S = 240
APP_UID = 10001  # USER in the Dockerfile, uid of compose's HOME tmpfs
WORKER_NICE = 10  # gandemo.runner.WORKER_NICE
STOP_GRACE_S = 10
WAIT_MS = 120_000
COMPOSE_KEYS = {"build", "image", "init", "restart", "ports", "environment", "deploy",
                "shm_size", "read_only", "tmpfs", "security_opt", "healthcheck", "logging"}


class Failed(Exception):
    """A promise of the image that did not hold."""


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run ``docker ARGS``; its stdout (stripped), or Failed with stderr if it fails."""
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise Failed(f"docker {' '.join(args[:3])} ...: {res.stderr.strip()[-2000:]}")
    return res.stdout.strip()


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    try:
        res = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                             capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "no `docker` command on PATH"
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if res.returncode != 0 or not res.stdout.strip():
        return f"no Docker engine answers `docker info`: {res.stderr.strip()[:300]}"
    return None


# ----------------------------------------------------------------------------- compose.yaml


def _strip_comment(line: str) -> str:
    quote = None
    for k, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k]
    return line


def _scalar(text: str):
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(("[", '"')):
        return json.loads(text)
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    return text


def _block(lines: list[tuple[int, str]], i: int, indent: int):
    if lines[i][1].startswith("- "):
        items = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            items.append(_scalar(lines[i][1][2:].strip()))
            i += 1
        return items, i
    mapping: dict = {}
    while i < len(lines) and lines[i][0] == indent:
        key, sep, rest = lines[i][1].partition(":")
        if not sep:
            raise ValueError(f"compose.yaml: cannot read {lines[i][1]!r}")
        i += 1
        if rest.strip():
            mapping[key.strip()] = _scalar(rest.strip())
        elif i < len(lines) and lines[i][0] > indent:
            mapping[key.strip()], i = _block(lines, i, lines[i][0])
        else:
            mapping[key.strip()] = None
    if i < len(lines) and lines[i][0] > indent:
        raise ValueError(f"compose.yaml: unexpected indentation at {lines[i][1]!r}")
    return mapping, i


def read_compose(text: str) -> dict:
    """The subset of YAML compose.yaml uses: block mappings, block lists of scalars, JSON-style
    flow lists and quoted strings (no PyYAML in the app's requirements)."""
    lines = []
    for raw in text.splitlines():
        line = _strip_comment(raw).rstrip()
        if line.strip():
            lines.append((len(line) - len(line.lstrip()), line.strip()))
    value, _ = _block(lines, 0, lines[0][0])
    return value


def compose_service() -> dict:
    services = read_compose((ROOT / "compose.yaml").read_text())["services"]
    if len(services) != 1:
        raise Failed(f"compose.yaml: expected one service, found {sorted(services)}")
    return next(iter(services.values()))


def run_flags(svc: dict) -> list[str]:
    """compose.yaml's service settings as ``docker run`` flags (ports and network aside)."""
    unknown = set(svc) - COMPOSE_KEYS
    if unknown:
        raise Failed(f"compose.yaml keys this test cannot apply: {sorted(unknown)}")
    flags = ["--init"] if svc.get("init") else []
    if svc.get("restart"):
        flags += ["--restart", svc["restart"]]
    for key, value in (svc.get("environment") or {}).items():
        flags += ["-e", f"{key}={value}"]
    resources = (svc.get("deploy") or {}).get("resources") or {}
    limits = resources.get("limits") or {}
    if "cpus" in limits:
        flags += ["--cpus", str(limits["cpus"])]
    if "memory" in limits:
        flags += ["--memory", str(limits["memory"])]
    if "memory" in (resources.get("reservations") or {}):
        flags += ["--memory-reservation", str(resources["reservations"]["memory"])]
    if svc.get("shm_size"):
        flags += ["--shm-size", str(svc["shm_size"])]
    if svc.get("read_only"):
        flags.append("--read-only")
    for mount in svc.get("tmpfs") or []:
        flags += ["--tmpfs", mount]
    for opt in svc.get("security_opt") or []:
        flags += ["--security-opt", opt]
    logging = svc.get("logging") or {}
    if logging.get("driver"):
        flags += ["--log-driver", logging["driver"]]
        flags += [f"--log-opt={k}={v}" for k, v in (logging.get("options") or {}).items()]
    health = svc.get("healthcheck") or {}
    for key in ("timeout", "retries", "start_period"):
        if key in health:
            flags += [f"--health-{key.replace('_', '-')}", str(health[key])]
    flags += ["--health-interval", "2s"]  # compose: 30 s; probe often so "healthy" shows early
    return flags


# ----------------------------------------------------------------------------- steps


def port_free(port: int) -> bool:
    """No server listens on 127.0.0.1:``port`` (closed connections in TIME-WAIT, as a previous
    run leaves for 60 s, do not count: the server binds with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def build(host_network: bool) -> float:
    args = ["build", "-t", IMAGE]
    if host_network:
        args += ["--network", "host"]
    for name in BUILD_ARGS:
        if name in os.environ:  # TORCH_INDEX_URL="" is meaningful: plain PyPI
            args += ["--build-arg", f"{name}={os.environ[name]}"]
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "image-test-build.log"
    print(f"[build] docker {' '.join(args)} .  (log: {log.relative_to(ROOT)})", flush=True)
    start = time.monotonic()
    with log.open("w") as out:
        res = subprocess.run(["docker", *args, str(ROOT)], stdout=out, stderr=subprocess.STDOUT,
                             timeout=3600)
    took = time.monotonic() - start
    if res.returncode != 0:
        raise Failed(f"docker build failed after {took:.0f} s:\n{log.read_text()[-4000:]}")
    return took


def wait_healthy(base: str) -> tuple[float, float]:
    """Seconds from ``docker run`` until /_stcore/health answers, and until Docker says
    healthy (the image's own HEALTHCHECK command)."""
    start = time.monotonic()
    answered = None
    deadline = start + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", NAME))
        if not state["Running"]:
            raise Failed(f"the container exited (code {state['ExitCode']})")
        if answered is None:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=3) as resp:
                    if resp.read().decode().strip() == "ok":
                        answered = time.monotonic() - start
            except OSError:
                pass
        if state.get("Health", {}).get("Status") == "healthy":
            return answered or time.monotonic() - start, time.monotonic() - start
        if state.get("Health", {}).get("Status") == "unhealthy":
            raise Failed(f"Docker marked it unhealthy: {state['Health']['Log'][-1:]}")
        time.sleep(0.25)
    raise Failed(f"not healthy within {HEALTH_TIMEOUT_S} s")


def check_inside() -> dict:
    """User, HOME, /app and the installed packages, as the running app sees them."""
    uid = docker("exec", NAME, "id", "-u")
    if uid == "0" or not uid.isdigit():
        raise Failed(f"the app runs as uid {uid!r}: must be a non-root numeric user")
    home_owner = docker("exec", NAME, "sh", "-c",
                        'touch "$HOME/.image-test" && stat -c %u "$HOME"', check=False)
    if home_owner != uid:
        raise Failed(f"HOME is not writable by / owned by uid {uid} (owner: {home_owner!r})")
    if docker("exec", NAME, "sh", "-c", "touch /app/.image-test && echo writable",
              check=False) == "writable":
        raise Failed("/app is writable by the app user; it must be read-only")
    probe = ("import importlib.metadata as md, torch, ot, imageio, imageio_ffmpeg, kaleido; "
             "assert not torch.cuda.is_available(); "
             "print(' '.join(f'{p}=={md.version(p)}' for p in "
             "('torch', 'pot', 'imageio', 'imageio-ffmpeg', 'streamlit')))")
    versions = docker("exec", NAME, "python", "-c", probe)
    pip_check = docker("exec", NAME, "python", "-m", "pip", "check", check=False)
    if "No broken requirements" not in pip_check:
        raise Failed(f"pip check in the image: {pip_check}")
    return {"uid": uid, "home_owner": home_owner, "packages": versions}


# Every process in the container as JSON (pid, ppid, uid, nice, RSS, command line), from /proc.
PROCESSES = r"""
import json, os
procs = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode().strip()
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        with open(f"/proc/{pid}/stat") as f:  # field 19 is the niceness; comm may hold spaces
            nice = int(f.read().rsplit(")", 1)[1].split()[16])
    except OSError:  # it exited meanwhile
        continue
    procs.append({"pid": int(pid), "ppid": int(status["PPid"]), "nice": nice,
                  "uids": sorted(set(map(int, status["Uid"].split()))),
                  "rss_MiB": round(int(status.get("VmRSS", "0 kB").split()[0]) / 1024),
                  "cmd": cmd})
print(json.dumps(procs))
"""


def check_workers(env: dict) -> tuple[int | None, list[dict]]:
    """The training worker processes: as many as GANDEMO_WORKERS (none where GANDEMO_PROCESSES
    is off), each uid APP_UID, niceness >= WORKER_NICE, a child of the streamlit server.
    (server pid, the workers)."""
    if "GANDEMO_WORKERS" not in env:
        raise Failed("compose.yaml's environment sets no GANDEMO_WORKERS")
    off = str(env.get("GANDEMO_PROCESSES", "1")).strip().lower() in ("0", "false", "no", "off")
    expected = 0 if off else int(env["GANDEMO_WORKERS"])
    procs = {p["pid"]: p for p in json.loads(docker("exec", NAME, "python", "-c", PROCESSES))}
    workers = [p for p in procs.values() if "gandemo.hosts import serve" in p["cmd"]]
    parents = sorted({p["ppid"] for p in workers})
    wrong = [p for p in workers if p["uids"] != [APP_UID] or p["nice"] < WORKER_NICE
             or "streamlit run" not in procs.get(p["ppid"], {"cmd": ""})["cmd"]]
    if len(workers) != expected or wrong or len(parents) > 1:
        raise Failed(f"expected {expected} worker processes (GANDEMO_WORKERS), uid {APP_UID}, "
                     f"nice >= {WORKER_NICE}, children of the one streamlit server; found "
                     f"{workers}, parents {[procs.get(pid) for pid in parents]}")
    return parents[0] if parents else None, workers


def drive_browser(base: str, while_training) -> tuple[int, Path]:
    """Start a run in headless Chromium, call ``while_training()`` once the step counter moves,
    pause, download the PNG; (step seen, PNG path)."""
    from conftest import CHROMIUM, CHROMIUM_ARGS, click_until_visible, wait_for_app
    from playwright.sync_api import sync_playwright

    status = re.compile(r"step (\d+) / (\d+)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 1000},
                                       accept_downloads=True).new_page()
            page.goto(f"{base}/?target=bimodal&steps=20000")
            wait_for_app(page, WAIT_MS)
            line = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=status)
            line.first.wait_for(timeout=WAIT_MS)
            page.locator(".st-key-start").get_by_role("button").first.click()
            deadline, step = time.monotonic() + WAIT_MS / 1000, 0
            while step == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
                step = int(status.search(line.first.inner_text()).group(1))
            if step == 0:
                raise Failed("Start pressed, but the step counter never moved")
            while_training()
            click_until_visible(page.locator(".st-key-pause").get_by_role("button").first,
                                page.get_by_text(re.compile(r"Paused")).first, then_ms=WAIT_MS)
            png_button = page.locator(".st-key-dl_png").get_by_role("button").first
            png_button.wait_for(timeout=WAIT_MS)
            with page.expect_download(timeout=WAIT_MS) as info:
                png_button.click()
            path = ARTIFACTS / "image-test-export.png"
            info.value.save_as(path)
        finally:
            browser.close()
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 10_000:
        raise Failed(f"the exported file is not a plausible PNG ({len(data)} bytes)")
    return step, path


def stop() -> tuple[float, int]:
    start = time.monotonic()
    docker("stop", "-t", str(STOP_GRACE_S), NAME, timeout=STOP_GRACE_S + 60)
    took = time.monotonic() - start
    code = int(docker("inspect", "--format", "{{.State.ExitCode}}", NAME))
    if took >= STOP_GRACE_S or code == 137:
        raise Failed(f"docker stop took {took:.1f} s, exit code {code}: the app ignored SIGTERM "
                     f"and was killed after the {STOP_GRACE_S} s grace")
    return took, code


def main() -> int:
    problem = engine_problem()
    if problem:
        print(f"SKIPPED make image-test: {problem}. Start a Docker engine (docs/deploy.md) "
              "and run it again.")
        return 0
    host_network = "bridge" not in docker("network", "ls", "--format", "{{.Name}}").split()
    svc = compose_service()
    flags = run_flags(svc)
    print(f"[engine] Docker {docker('version', '--format', '{{.Server.Version}}')}, "
          f"{'host network (no bridge)' if host_network else 'bridge network'}")
    results: dict[str, object] = {"build_s": round(build(host_network), 1)}
    size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE))
    results["image_size_GB"] = round(size / 1e9, 2)
    image_health = json.loads(docker("image", "inspect", "--format",
                                     "{{json .Config.Healthcheck.Test}}", IMAGE))
    if image_health != svc["healthcheck"]["test"]:
        raise Failed(f"compose.yaml's healthcheck {svc['healthcheck']['test']} differs from the "
                     f"image's HEALTHCHECK {image_health}")

    if host_network:
        if not port_free(8501):
            raise Failed("port 8501 is busy on this machine; with host networking the "
                         "container needs it (the image's health check probes :8501)")
        net, app_args = ["--network", "host"], ["--server.address=127.0.0.1"]
        base = "http://127.0.0.1:8501"
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        net, app_args = ["-p", f"127.0.0.1:{port}:8501"], []
        base = f"http://127.0.0.1:{port}"
    print(f"[run] docker run -d --name {NAME} {' '.join(net + flags)} {IMAGE} "
          f"{' '.join(app_args)}", flush=True)
    docker("run", "-d", "--name", NAME, *net, *flags, IMAGE, *app_args)
    try:
        results["health_http_s"], results["healthy_s"] = (
            round(t, 1) for t in wait_healthy(base))
        print(f"[health] /_stcore/health after {results['health_http_s']} s, Docker 'healthy' "
              f"after {results['healthy_s']} s", flush=True)
        results.update(check_inside())
        print(f"[inside] uid {results['uid']}, HOME owner {results['home_owner']}, /app "
              f"read-only; {results['packages']}", flush=True)
        def workers_step() -> None:
            server, workers = check_workers(svc.get("environment") or {})
            results["workers"] = [{k: w[k] for k in ("pid", "nice", "rss_MiB")} for w in workers]
            print(f"[workers] {len(workers)} training processes (GANDEMO_WORKERS), children of "
                  f"the streamlit server (pid {server}), uid {APP_UID}: " + "; ".join(
                      f"pid {w['pid']} nice {w['nice']} RSS {w['rss_MiB']} MiB" for w in workers),
                  flush=True)

        step, png = drive_browser(base, workers_step)
        results["browser_step_seen"] = step
        results["png_bytes"] = png.stat().st_size
        print(f"[browser] Start -> step {step}; PNG export {png.stat().st_size} bytes "
              f"({png.relative_to(ROOT)})", flush=True)
        results["stop_s"], results["exit_code"] = stop()
        results["stop_s"] = round(results["stop_s"], 1)
        print(f"[stop] docker stop: {results['stop_s']} s, exit code {results['exit_code']}")
    except BaseException:
        print("---- container log (last 60 lines) ----\n"
              + docker("logs", "--tail", "60", NAME, check=False), file=sys.stderr)
        raise
    finally:
        docker("rm", "-f", NAME, check=False)
    print("PASSED make image-test: " + json.dumps(results))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as err:
        print(f"FAILED make image-test: {err}", file=sys.stderr)
        sys.exit(1)
