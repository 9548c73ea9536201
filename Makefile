# The two commands at the top of the README. Both set up everything a fresh machine lacks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-fast lint bench browser clean image-test

# `make run` needs only the app's own requirements; the test targets add the dev tools.
$(VENV)/.app-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.app-installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Debian's Chromium: the browser for the real-browser tests and for PNG export (kaleido);
# a CJK font so Chinese figure titles render in exported PNGs.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk'; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

run: $(VENV)/.app-installed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

# The whole suite (what CI runs): engine, pages, real-browser, load and container tests. The
# in-process tests share both cores (pytest-xdist); the real-server and load tests run alone.
test: $(VENV)/.installed browser lint
	$(PY) -m pytest -n 2 -m "not browser and not load"
	$(PY) -m pytest -m "browser or load"

# The inner loop (< 60 s): engine, config, losses, metrics and the AppTest pages; no browser,
# no load test, no fresh-venv install, no long training.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 -m "not browser and not slow and not load"

# The image for real: build it, run it with compose.yaml's settings, wait for health, check the
# user, press Start and export a PNG in headless Chromium, stop it (scripts/image_test.py).
# Skipped, with the reason, where no Docker engine runs. Build arguments pass through:
#   make image-test TORCH_INDEX_URL=  (plain PyPI)   PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:...
image-test: $(VENV)/.installed browser
	$(PY) scripts/image_test.py

bench: $(VENV)/.app-installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache runs
