# The hub's one image: `hub serve` (web + API), `hub worker` (arq) and `hub db upgrade` all run
# from it; compose.yaml picks the command. No secrets are baked in: they come from the
# environment (HUB_SECRET_KEY, HUB_DATABASE_URL) at run time.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY hub hub
COPY adapters adapters
COPY web web
RUN pip install --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /home/hub hub \
    && mkdir -p /data /policies && chown hub:hub /data
COPY --from=build /install /usr/local
# the example policy; compose mounts the owner's ./policies over it (read-only)
COPY policies /policies
USER hub
WORKDIR /home/hub
ENV PYTHONUNBUFFERED=1 HUB_HOST=0.0.0.0 HUB_PORT=8000 HUB_DATA_DIR=/data \
    HUB_POLICY_DIR=/policies
EXPOSE 8000
ENTRYPOINT ["hub"]
CMD ["serve"]
