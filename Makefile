# The two commands at the top of the README. Both set up everything a fresh machine lacks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint bench browser clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Debian's Chromium: the browser for the real-browser tests and for PNG export (kaleido);
# a CJK font so Chinese figure titles render in exported PNGs.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk'; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

test: $(VENV)/.installed browser lint
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache runs
