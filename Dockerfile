# ddm-gateway: slim Python base, non-root, `ddm-gateway serve` entrypoint, health on the admin port.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
COPY signer ./signer
COPY ddmsim ./ddmsim
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /var/lib/ddm-gateway --create-home ddmgw \
    && mkdir -p /var/lib/ddm-gateway/state && chown -R ddmgw /var/lib/ddm-gateway
# state/ exists in the image so a fresh named volume mounted there inherits ddmgw's ownership.
USER ddmgw
WORKDIR /var/lib/ddm-gateway
# The config must set listen.host/admin.host to 0.0.0.0 to be reachable from outside the container.
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["ddm-gateway", "serve"]
CMD ["--config", "/etc/ddm-gateway/gateway.yaml"]
