# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared by the scripts of hack/: versions, cache layout, logging.
# Sourced, never executed.

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HACK_DIR

# shellcheck source=versions.env
source "${HACK_DIR}/versions.env"
: "${KUBERNETES_VERSION:?} ${ETCD_VERSION:?} ${KWOK_VERSION:?} ${HELM_VERSION:?}"

# Everything built is kept here, outside the repository, one directory per component and version.
CACHE_ROOT=${CHATBOT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/chatbot-operator}
readonly CACHE_ROOT

# Where `make cluster` keeps the running cluster's state (kubeconfig, certs, PIDs, logs).
CLUSTER_DIR=${CLUSTER_DIR:-${CACHE_ROOT}/cluster}

# The private Docker engine of hack/engine.sh: socket, data root, logs.
# shellcheck disable=SC2034 # used by the scripts that source this file
ENGINE_DIR=${CHATBOT_ENGINE_DIR:-${CACHE_ROOT}/engine}

# The directory of symlinks handed to users and tests: one per set of pinned versions, so two
# checkouts pinning different versions never see each other's binaries.
toolset_bin_dir() {
  local key
  key=$(sha256sum "${HACK_DIR}/versions.env" | cut -c1-12)
  printf '%s/toolset-%s/bin\n' "${CACHE_ROOT}" "${key}"
}

component_dir() { # component version
  printf '%s/%s-%s\n' "${CACHE_ROOT}" "$1" "$2"
}

kwok_stages_file() {
  printf '%s/stages.yaml\n' "$(component_dir kwok "${KWOK_VERSION}")"
}

log() {
  printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}
