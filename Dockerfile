# The arkitekt server as a container image: small (Debian slim + wheels), runs as a non-root user.
#   docker build -t arkitekt .
#   docker run -p 8000:8000 -v arkitekt-data:/data arkitekt
# See docs/deploy.md for PostgreSQL, Redis, S3 and several replicas (deploy/compose.yaml).

FROM python:3.11-slim AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY arkitekt ./arkitekt
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[server,postgres,redis,s3]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home arkitekt
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "arkitekt[server,postgres,redis,s3]" \
    && rm -rf /wheels
USER arkitekt
ENV ARKITEKT_DATA_DIR=/data \
    ARKITEKT_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
# Behind a reverse proxy: trust its X-Forwarded-* headers (narrow this to its address).
ENTRYPOINT ["arkitekt", "server", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--forwarded-allow-ips", "*"]
