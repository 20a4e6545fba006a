#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds the two images of the Dockerfile with the private engine of hack/engine.sh, on the local
# base of hack/base-image.sh (see docs/images.md).
#
#   hack/images.sh build [bot|operator...]  build both targets (or the ones named); prints the image
#                                           names, chatbot-bot:dev and chatbot-operator:dev
#   hack/images.sh save DIR                 build, then write DIR/chatbot-bot.tar and
#                                           DIR/chatbot-operator.tar (`docker save`, for
#                                           `ctr -n k8s.io images import`); prints their paths
#   hack/images.sh sizes                    build, then print each image's size and its layers
#   hack/images.sh test CMD...              build, then run CMD with CHATBOT_BOT_IMAGE and
#                                           CHATBOT_OPERATOR_IMAGE set to the IDs just built
#   hack/images.sh prune                    remove images no tag names any more and trim the build
#                                           cache to CHATBOT_BUILD_CACHE_KEEP (default 3GB); prints
#                                           the engine's disk use before and after
#
# Each command starts the engine if needed and stops it afterwards unless someone else still uses it
# (hack/engine.sh exec); run inside `hack/engine.sh exec ...` it uses that engine.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO_ROOT=$(cd "${HACK_DIR}/.." && pwd)
readonly REPO_ROOT
TARGETS=(bot operator)
TAG=${CHATBOT_IMAGE_TAG:-dev}

image_name() { # target
  printf 'chatbot-%s:%s\n' "$1" "${TAG}"
}

# Target -> the ID of the image this run built: what `test` hands to the tests, since another
# checkout sharing the engine may move the tags meanwhile.
declare -A BUILT_IDS=()

build() { # targets...
  local base target started
  base=$("${HACK_DIR}/base-image.sh")
  for target in "$@"; do
    started=$(date +%s)
    # --network host: the engine has no bridge (hack/engine.sh). The base is passed in the
    # Dockerfile's own PYTHON_IMAGE argument: users build the same file on the official image.
    BUILT_IDS[${target}]=$(docker build --quiet --network host \
      --build-arg "PYTHON_IMAGE=${base}" \
      --target "${target}" --tag "$(image_name "${target}")" \
      "${REPO_ROOT}")
    log "built $(image_name "${target}") (${BUILT_IDS[${target}]:7:12}) in $(($(date +%s) - started))s"
  done
}

save() { # dir
  local dir=$1 target
  mkdir -p "${dir}"
  for target in "${TARGETS[@]}"; do
    docker save --output "${dir}/chatbot-${target}.tar.partial" "$(image_name "${target}")"
    mv "${dir}/chatbot-${target}.tar.partial" "${dir}/chatbot-${target}.tar"
    printf '%s\n' "${dir}/chatbot-${target}.tar"
  done
}

sizes() {
  local target
  for target in "${TARGETS[@]}"; do
    printf '%s\t%s MB\n' "$(image_name "${target}")" \
      "$(($(docker image inspect --format '{{.Size}}' "$(image_name "${target}")") / 1000000))"
    docker history --no-trunc --format '  {{.Size}}\t{{.CreatedBy}}' "$(image_name "${target}")" |
      grep -v -E '^  0B' | cut -c1-160
  done
}

# Not after every build: another checkout sharing the engine may be about to run an image it built,
# by ID, that a newer build has untagged (see BUILT_IDS).
prune() {
  docker system df
  docker image prune --force >/dev/null
  docker builder prune --force --keep-storage "${CHATBOT_BUILD_CACHE_KEEP:-3GB}" >/dev/null
  docker system df
}

main() {
  local command=${1:-}
  (($#)) && shift
  # Re-run under the engine unless already inside it.
  if [[ "${DOCKER_HOST:-}" != "unix://${ENGINE_DIR}/docker.sock" ]]; then
    exec "${HACK_DIR}/engine.sh" exec "${BASH_SOURCE[0]}" "${command}" "$@"
  fi
  case "${command}" in
    build)
      (($#)) || set -- "${TARGETS[@]}"
      build "$@"
      for target in "$@"; do image_name "${target}"; done
      ;;
    save)
      (($# == 1)) || die "usage: hack/images.sh save DIR"
      build "${TARGETS[@]}"
      save "$1"
      ;;
    sizes)
      build "${TARGETS[@]}"
      sizes
      ;;
    test)
      (($#)) || die "usage: hack/images.sh test CMD..."
      build "${TARGETS[@]}"
      CHATBOT_BOT_IMAGE=${BUILT_IDS[bot]} CHATBOT_OPERATOR_IMAGE=${BUILT_IDS[operator]} "$@"
      ;;
    prune) prune ;;
    *) die "usage: hack/images.sh build [bot|operator...]|save DIR|sizes|test CMD...|prune" ;;
  esac
}

main "$@"
