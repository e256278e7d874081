# One image for the api, the worker and the one-shot migrate service.
# CPU-only torch: the default PyPI wheel of torch pulls a multi-GB CUDA build.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    MODALIGN_PATHS__DATA_DIR=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends libraqm0 curl \
      fonts-noto-color-emoji unicode-cldr-core openclipart-png openclipart-svg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md alembic.ini ./
COPY modalign ./modalign
COPY migrations ./migrations
RUN pip install . && useradd --create-home --uid 1000 modalign && mkdir -p /data \
 && chown modalign /data
USER modalign

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["modalign", "serve", "--host", "0.0.0.0", "--port", "8000"]
