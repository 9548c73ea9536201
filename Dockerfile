# gandemo classroom container: one process serves every student (see docs/deploy.md).
#   docker build -t gandemo .
#   docker run --init -p 8501:8501 gandemo        # then open http://localhost:8501
# Everything it promises is checked by tests/test_container.py (hadolint, parsed promises, and the
# same pip steps in a fresh venv); the image itself is not built in CI (no Docker engine there).
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    BROWSER_PATH=/usr/bin/chromium

# Debian's Chromium drives kaleido for PNG/SVG export; the CJK font renders Chinese figure titles.
# Versions are not pinned: bookworm-security replaces Chromium often and drops the old build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# CPU-only torch from PyTorch's CPU wheel index (a plain PyPI install pulls the CUDA build,
# ~3 GB more); requirements.txt pins the same torch==2.13.0, so the second step keeps it.
COPY requirements.txt ./
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir -r requirements.txt

# The code stays root-owned and read-only for the app user; HOME is writable (Chromium's profile).
COPY . .
RUN useradd --create-home --uid 10001 --user-group gandemo
USER 10001:10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4)"]

ENTRYPOINT ["streamlit", "run", "app.py", "--server.headless=true", "--server.address=0.0.0.0", "--server.port=8501"]
