# OpenMMO: one image, the role chosen by subcommand (`gateway`, `zone`, `migrate`, ...).
#
#   docker build -t localhost/openmmo:0.1.0 \
#     --build-arg OPENMMO_GIT_COMMIT="$(git rev-parse HEAD)" \
#     --build-arg OPENMMO_BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# With podman/buildah add `--format docker`: the OCI image format has no HEALTHCHECK, so
# podman drops it otherwise (compose.yaml and the Kubernetes probes declare their own).
#
# The build needs PyPI and a Debian mirror: every dependency is a manylinux wheel, and
# `--only-binary=:all:` makes a missing wheel fail the build at once instead of trying to
# compile it. The one thing compiled is OpenMMO's own move reader (docs/decisions/0006), in
# the builder stage: the runtime image has no compiler, on purpose.

########################################################################################
# builder: a virtualenv in /opt/openmmo with OpenMMO and its pinned dependencies
########################################################################################
FROM docker.io/library/python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# The venv gets no pip/setuptools of its own (the bundled setuptools is old and a scanner
# finding): the base image's pip installs into it with --python.
RUN python -m venv --without-pip /opt/openmmo

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that a source change reuses this layer.
COPY pyproject.toml README.md ./
# The `scaling` extra too: the predict-scale CronJob runs this image.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['scaling']))" \
        > /tmp/requirements.txt \
    && python -m pip --python /opt/openmmo/bin/python install --no-cache-dir \
        --only-binary=:all: --requirement /tmp/requirements.txt

# A C compiler (and Python's headers where the base lacks them) for the move reader. Without
# a mirror the build goes on without it: the zone then runs the same pure-Python path and
# logs `input_path=python` at start. The compiler's exact version never reaches the runtime
# image (it builds one small module there), so it is not pinned.
# hadolint ignore=DL3008
RUN headers=$(python -c "import os, sysconfig; print('' if os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else 'libpython3-dev')") \
    && { { apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev ${headers:+"$headers"} \
           && rm -rf /var/lib/apt/lists/*; } >/tmp/apt.log 2>&1 \
         || { tail -5 /tmp/apt.log; echo "no C compiler: the image runs the pure-Python input path"; }; }

# Then the project itself (a regular, non-editable install; pip compiles the bytecode, so
# a read-only root filesystem costs nothing at start).
COPY setup.py ./
COPY src/ src/
RUN python -m pip --python /opt/openmmo/bin/python install --no-cache-dir --no-deps . \
    && /opt/openmmo/bin/openmmo --help > /dev/null

########################################################################################
# runtime: the same base, the venv, no build tools, no pip, non-root
########################################################################################
FROM docker.io/library/python:3.11-slim AS runtime

# pip, setuptools and wheel are not needed at run time (nothing is installed here); removing
# them shrinks what an attacker or a vulnerability scanner can find. Not installed ones are
# skipped with a warning.
RUN python -m pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && groupadd --system --gid 10001 openmmo \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin openmmo

COPY --from=builder /opt/openmmo /opt/openmmo

# DATA_DIR only matters without DATABASE_URL/DB_HOST (the embedded SQLite database, the dev
# JWT key): keep it under /tmp so that a read-only root filesystem works.
ENV PATH=/opt/openmmo/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/tmp/openmmo

WORKDIR /app

# Build information, last: these change on every build and must not invalidate the layers
# above. /version and `openmmo version` read OPENMMO_GIT_COMMIT and OPENMMO_BUILD_DATE.
ARG OPENMMO_GIT_COMMIT=unknown
ARG OPENMMO_BUILD_DATE=unknown
# podman/buildah reuse a cached ENV or LABEL step even when the build argument it expands has
# changed (containers/buildah#5501), so a rebuild would keep the previous commit and date. A
# RUN's cache key does include the build arguments: this one makes the steps below use this
# build's values, and checks that the installed command starts on the runtime base.
RUN openmmo version
ENV OPENMMO_GIT_COMMIT=${OPENMMO_GIT_COMMIT} \
    OPENMMO_BUILD_DATE=${OPENMMO_BUILD_DATE}
LABEL org.opencontainers.image.title="openmmo" \
      org.opencontainers.image.description="OpenMMO MMORPG server: gateway, zone servers, migrations (role by subcommand)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${OPENMMO_GIT_COMMIT}" \
      org.opencontainers.image.created="${OPENMMO_BUILD_DATE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/openmmo/openmmo" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

USER 10001:10001

# gateway: 8080 (HTTP API, health, metrics); zone: 7000 (game WebSocket /ws),
# 8081 (HEALTH_PORT), 9090 (METRICS_PORT).
EXPOSE 8080 7000 8081 9090

# `openmmo healthcheck` asks http://127.0.0.1:$HEALTH_PORT/health/ready (default 8081, which
# the gateway serves too); set HEALTH_PORT per role.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["openmmo", "healthcheck"]

# Signals: the exec form makes `openmmo` PID 1 (no shell in between), and it handles SIGTERM
# itself: readiness drops at once, zone servers save their players and close their sockets
# with 1012, HTTP servers finish in-flight requests, and the process exits within
# DRAIN_TIMEOUT_S (a second SIGTERM exits at once). It starts no child processes, so no init
# is needed to reap zombies. Give zone containers a stop timeout of DRAIN_TIMEOUT_S + 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["openmmo"]
CMD ["gateway"]
