# syntax=docker/dockerfile:1
#
# drift-monitor: the daemon's image. docker-compose.yml also runs the example
# producer (`drift-monitor produce-synthetic`) from it.
#
#   docker build -t drift-monitor .
#   docker run -v $PWD/my-config.yaml:/etc/drift-monitor/config.yaml:ro -p 9108:9108 drift-monitor
#
# The config is mounted at /etc/drift-monitor/config.yaml (the default command
# and the HEALTHCHECK read it there); secrets reach it as ${ENV} from the
# container's environment. The process runs as an unprivileged user (10001).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/drift-monitor
WORKDIR /src
# confluent-kafka, numpy, scipy and pyarrow ship manylinux wheels: no compiler needed.
# No extras: the daemon and `produce-synthetic` need no local broker (the demo extra).
COPY pyproject.toml README.md ./
COPY detectors ./detectors
COPY monitor ./monitor
RUN /opt/drift-monitor/bin/pip install .

FROM python:3.11-slim
# MALLOC_ARENA_MAX: librdkafka's threads each get a glibc malloc arena that keeps
# what it freed; with two, the benchmark's RSS stayed at 271-393 MB over 10M events,
# where the default let it creep from 316 to 472 MB.
ENV PATH=/opt/drift-monitor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2
RUN groupadd --system --gid 10001 drift-monitor \
 && useradd --system --uid 10001 --gid drift-monitor --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin drift-monitor
COPY --from=build /opt/drift-monitor /opt/drift-monitor
USER 10001:10001
WORKDIR /tmp
EXPOSE 9108
# Exit 0 only while this container's /readyz answers 200 and the daemon's
# heartbeat key in Redis is fresh (see `drift-monitor healthcheck --help`).
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["drift-monitor", "healthcheck", "-c", "/etc/drift-monitor/config.yaml", "--timeout", "3"]
ENTRYPOINT ["drift-monitor"]
CMD ["run", "-c", "/etc/drift-monitor/config.yaml"]
