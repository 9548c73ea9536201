# gandemo classroom container: one process serves every student (see docs/deploy.md).
#   docker build -t gandemo .
#   docker run --init -p 8501:8501 gandemo        # then open http://localhost:8501
#   make image-test                               # builds, runs and checks this image for real
# Build arguments (docs/deploy.md, "Build arguments"):
#   PYTHON_IMAGE     the base; pin its digest with python:3.11.15-slim-bookworm@sha256:<digest>
#   TORCH_INDEX_URL  where CPU-only torch comes from; empty = plain PyPI (works on PyPI-only
#                    networks, but PyPI's Linux torch is the CUDA build: ~3 GB larger image)
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm
FROM ${PYTHON_IMAGE}

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

# CPU-only torch first, from TORCH_INDEX_URL (PyTorch's CPU wheel index, or a mirror of it);
# requirements.txt pins the same torch==2.13.0, so the second step keeps that build. No extra
# index on the torch step: PyPI also has a torch 2.13.0 (the CUDA build) and pip might take it.
# (Both steps are pinned; hadolint reads the ${...:+...} expansion as an unpinned package.)
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0 \
    && pip install --no-cache-dir -r requirements.txt

# The code stays root-owned and read-only for the app user; HOME is writable (Chromium's profile).
# uid/gid 10001: compose.yaml's tmpfs for /home/gandemo is mounted with the same ids.
COPY . .
RUN useradd --create-home --uid 10001 --user-group gandemo
USER 10001:10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4)"]

ENTRYPOINT ["streamlit", "run", "app.py", "--server.headless=true", "--server.address=0.0.0.0", "--server.port=8501"]
