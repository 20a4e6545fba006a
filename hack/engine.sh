#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A private Docker engine (Debian's docker.io) for building and testing the images (see docs/images.md).
#
#   hack/engine.sh exec CMD...  start the engine unless it runs, run CMD with DOCKER_HOST,
#                               DOCKER_CONFIG and PATH pointing at it, then stop the engine unless
#                               another `exec` still uses it; exits with CMD's status
#   hack/engine.sh up           start the engine (idempotent) and leave it running
#   hack/engine.sh down         stop it (waits for every `exec` in progress to finish)
#   hack/engine.sh env          print `export DOCKER_HOST=...` lines for eval
#   hack/engine.sh status       exit 0 if the engine answers
#
# Everything lives in $CHATBOT_ENGINE_DIR (default ~/.cache/chatbot-operator/engine): the socket
# docker.sock, the data root (images and build cache, kept between runs), the exec root, the pid file
# and dockerd.log. The engine touches no iptables and creates no bridge: builds and test containers
# use the host's network namespace (`--network host`), so nothing of the machine's network changes.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SOCKET="${ENGINE_DIR}/docker.sock"
PIDFILE="${ENGINE_DIR}/dockerd.pid"
# Debian's CLI, never another `docker` that happens to come first on PATH: its version matches the
# engine's, and with DOCKER_BUILDKIT=1 it builds with the engine's BuildKit (no buildx plugin needed).
DOCKER_CLI=/usr/bin/docker
START_TIMEOUT=${CHATBOT_ENGINE_START_TIMEOUT:-60}
STOP_TIMEOUT=30

engine_env() {
  export DOCKER_HOST="unix://${SOCKET}"
  export DOCKER_CONFIG="${ENGINE_DIR}/config"
  # `docker` in the commands we run is Debian's (bin/docker links to it).
  export PATH="${ENGINE_DIR}/bin:${PATH}"
  export DOCKER_BUILDKIT=1
}

answers() {
  DOCKER_HOST="unix://${SOCKET}" timeout 10 "${DOCKER_CLI}" version --format '{{.Server.Version}}' \
    >/dev/null 2>&1
}

start_engine() {
  [[ -x /usr/sbin/dockerd && -x "${DOCKER_CLI}" ]] || die "Debian's docker.io is missing: run hack/install-system-deps.sh"
  [[ $(id -u) -eq 0 ]] || die "dockerd needs root: run as root (or with sudo)"
  mkdir -p "${ENGINE_DIR}/config" "${ENGINE_DIR}/bin"
  ln -sfn "${DOCKER_CLI}" "${ENGINE_DIR}/bin/docker"
  # The config dir is ours: no credentials or contexts from ~/.docker reach the builds.
  [[ -s "${ENGINE_DIR}/config/config.json" ]] || printf '{}\n' >"${ENGINE_DIR}/config/config.json"
  answers && return 0
  if [[ -s "${PIDFILE}" ]] && kill -0 "$(cat "${PIDFILE}")" 2>/dev/null; then
    die "dockerd $(cat "${PIDFILE}") runs but does not answer on ${SOCKET}: see ${ENGINE_DIR}/dockerd.log"
  fi
  log "starting dockerd on ${SOCKET}"
  # setsid: the engine outlives the shell of `up`, and a Ctrl-C in that shell does not reach it.
  # nice: builds and containers inherit the engine's priority, and others share this machine.
  # --containerd-namespace: containers of ours never mix with a containerd another tool runs.
  setsid nice -n 10 /usr/sbin/dockerd \
    --host "unix://${SOCKET}" \
    --data-root "${ENGINE_DIR}/data" \
    --exec-root "${ENGINE_DIR}/exec" \
    --pidfile "${PIDFILE}" \
    --containerd-namespace chatbot-operator \
    --containerd-plugins-namespace chatbot-operator-plugins \
    --bridge none --iptables=false --ip-masq=false \
    --storage-driver overlay2 \
    --log-level warn \
    </dev/null >>"${ENGINE_DIR}/dockerd.log" 2>&1 8>&- 9>&- &
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ((SECONDS > deadline)) || ! kill -0 $! 2>/dev/null; then
      tail -n 20 "${ENGINE_DIR}/dockerd.log" >&2
      die "dockerd did not answer on ${SOCKET} within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "dockerd $(cat "${PIDFILE}") ready"
}

stop_engine() {
  [[ -s "${PIDFILE}" ]] || return 0
  local pid
  pid=$(cat "${PIDFILE}")
  if kill -0 "${pid}" 2>/dev/null; then
    log "stopping dockerd ${pid}"
    # SIGTERM: dockerd stops its containers and its own containerd, then removes the pid file.
    kill -TERM "${pid}"
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "${pid}" 2>/dev/null; do
      if ((SECONDS > deadline)); then
        log "dockerd ${pid} still runs after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  rm -f "${PIDFILE}"
}

# Users of the engine hold a shared lock on users.lock while they run; whoever can then take it
# exclusively is the last one and stops the engine. start.lock serialises starting and stopping.
with_start_lock() { # cmd...
  exec 8>"${ENGINE_DIR}/start.lock"
  flock 8
  "$@"
  flock -u 8
}

# Last user out stops the engine, unless `up` asked for it to stay. Runs on exit, so an interrupted
# command (Ctrl-C, a CI timeout's SIGTERM) leaves nothing running either.
stop_if_last_user() {
  if [[ ! -e "${ENGINE_DIR}/keep-running" ]] && flock -x -n 9; then
    with_start_lock stop_engine
  fi
}

cmd_exec() {
  (($#)) || die "usage: hack/engine.sh exec CMD..."
  mkdir -p "${ENGINE_DIR}"
  exec 9>"${ENGINE_DIR}/users.lock"
  flock -s 9
  trap stop_if_last_user EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  with_start_lock start_engine
  local status=0
  (
    engine_env
    exec 9>&- 8>&-
    "$@"
  ) || status=$?
  exit "${status}"
}

main() {
  case "${1:-}" in
    exec)
      shift
      cmd_exec "$@"
      ;;
    up)
      mkdir -p "${ENGINE_DIR}"
      with_start_lock start_engine
      touch "${ENGINE_DIR}/keep-running"
      ;;
    down)
      mkdir -p "${ENGINE_DIR}"
      rm -f "${ENGINE_DIR}/keep-running"
      exec 9>"${ENGINE_DIR}/users.lock"
      flock -x 9
      with_start_lock stop_engine
      ;;
    env)
      engine_env
      printf 'export DOCKER_HOST=%q DOCKER_CONFIG=%q PATH=%q DOCKER_BUILDKIT=1\n' \
        "${DOCKER_HOST}" "${DOCKER_CONFIG}" "${PATH}"
      ;;
    status) answers ;;
    *) die "usage: hack/engine.sh exec CMD...|up|down|env|status" ;;
  esac
}

main "$@"
