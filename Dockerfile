# The metricstream gateway as a container image.
#
# NOT BUILT HERE: the machines this project is developed and tested on have no container
# engine, so this recipe has never been built or run; test/packaging/deploy.test.ts only
# checks what it says. The steps inside it are the ones tested elsewhere: `npm ci
# --omit=dev` and bin/metricstream on the Node that install brings
# (test/packaging/production-install.test.ts).
#
#   docker build -t metricstream .
#   docker run -p 8090:8090 -p 9464:9464 -v metricstream-data:/data metricstream [flags]
#
# Settings: flags after the image name, or METRICSTREAM_* variables (-e METRICSTREAM_WORKERS=4).

FROM node:24-bookworm-slim AS install
WORKDIR /app
COPY package.json package-lock.json .node-version ./
# Production dependencies only, exactly the lock; this includes the `node` dependency
# (the Node 24 that bin/metricstream runs on), so the runtime image needs no Node of its own.
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin metricstream \
 && mkdir -p /data && chown metricstream /data
COPY --from=install /app /app
WORKDIR /app
USER metricstream
ENV METRICSTREAM_DATA_DIR=/data \
    METRICSTREAM_HOST=0.0.0.0 \
    METRICSTREAM_PORT=8090 \
    METRICSTREAM_ADMIN_PORT=9464
# The partition log (segments, indexes, commit marks, consumer-group files): keep it on a volume.
VOLUME ["/data"]
EXPOSE 8090 9464
# SIGTERM drains (503 for new requests, rings committed, pending requests answered, sink
# flushed, exit 0). Give `docker stop` time for it: docker stop -t 60. The gateway is PID 1
# and handles the signal itself; it starts no child processes, so it needs no init.
STOPSIGNAL SIGTERM
# /readyz: 200 when the sink takes writes, 503 while Kafka is unreachable or during shutdown
# (/healthz: the process is alive). Node's fetch: the image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["/app/node_modules/.bin/node", "-e", "fetch('http://127.0.0.1:' + (process.env.METRICSTREAM_PORT || 8090) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/bin/metricstream"]
