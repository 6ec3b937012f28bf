# The registry service. Configure it with REGISTRY_* variables (see README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REGISTRY_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY registry ./registry
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home /data registry \
    && mkdir -p /data && chown registry /data

# Least privilege: never run as root.
USER registry
VOLUME ["/data"]
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/healthz')"
CMD ["registry", "serve", "--host", "0.0.0.0", "--port", "5000", "--workers", "2", "--threads", "8"]
