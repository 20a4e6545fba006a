#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds, or reuses, every binary of the local control plane from Go modules fetched through the
# module proxy, and prints the directory that holds them (see docs/control-plane.md).
#
#   hack/build-tools.sh            build what is missing, print the bin dir on stdout
#   hack/build-tools.sh helm       only helm (minutes, not the control plane's tens), print its bin dir
#
# Binaries are cached by version under $CHATBOT_OPERATOR_CACHE (default ~/.cache/chatbot-operator):
#   kubernetes-<v>/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   etcd-<v>/bin/etcd   kwok-<v>/bin/kwok + kwok-<v>/stages.yaml   helm-<v>/bin/helm
# With all of them present this takes well under a second.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The Go build cache is ours too: a cold build is then really cold, and removing CACHE_ROOT
# removes everything this script ever wrote.
export GOCACHE=${CHATBOT_OPERATOR_GOCACHE:-${CACHE_ROOT}/go-build}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Others share this machine: build at the lowest priority.
NICE=(nice -n 19)
GO_BUILD_FLAGS=(-trimpath -pgo=off)

go_mod_json_field() { # module@version field -> value of that field of `go mod download -json`
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# Bumped whenever a component's build recipe (flags, ldflags, stage files) changes, so that
# binaries cached by an older recipe are rebuilt.
RECIPE=2

have_all() { # bin-dir names...
  local dir=$1 name
  shift
  [[ "$(cat "${dir}/../recipe" 2>/dev/null)" == "${RECIPE}" ]] || return 1
  for name in "$@"; do
    [[ -x "${dir}/${name}" ]] || return 1
  done
}

# Moves a finished build into place (a build that died half-way leaves only bin.partial) and
# records how long it took.
install_bin() { # component-dir started-at
  local seconds=$(($(date +%s) - $2))
  rm -rf "${1:?}/bin"
  mv "$1/bin.partial" "$1/bin"
  printf '%s\n' "${seconds}" >"$1/build-seconds"
  printf '%s\n' "${RECIPE}" >"$1/recipe"
  log "built $(basename "$1") in ${seconds}s"
}

# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl in one `go build`, from a
# wrapper module: k8s.io/kubernetes replaces its k8s.io/* staging modules with ./staging paths,
# which `go install pkg@version` refuses, so the wrapper replaces each with its published tag.
build_kubernetes() {
  local out bin_names=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  out=$(component_dir kubernetes "${KUBERNETES_VERSION}")
  have_all "${out}/bin" "${bin_names[@]}" && return 0

  local started staging_version upstream_gomod src
  started=$(date +%s)
  log "building Kubernetes ${KUBERNETES_VERSION} (cold: tens of minutes on 2 cores)"
  # v1.35.4 -> v0.35.4: staging modules are tagged with the same minor and patch.
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  upstream_gomod=$(go_mod_json_field "k8s.io/kubernetes@${KUBERNETES_VERSION}" GoMod)
  src="${out}/src"
  rm -rf "${src}" "${out}/bin.partial"
  mkdir -p "${src}"

  local staging
  staging=$(sed -nE 's#^[[:space:]]*(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\1#p' "${upstream_gomod}")
  [[ -n "${staging}" ]] || die "no ./staging replacements found in ${upstream_gomod}"
  {
    printf 'module chatbot-operator.local/kubernetes-build\n\n'
    grep -m1 -E '^go [0-9]' "${upstream_gomod}"
    # A dependency's godebug settings are ignored: copy k8s.io/kubernetes's into the main module.
    grep -E '^godebug' "${upstream_gomod}" || true
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "${KUBERNETES_VERSION}"
    local module
    for module in ${staging}; do
      printf '\t%s => %s %s\n' "${module}" "${module}" "${staging_version}"
    done
    printf ')\n'
  } >"${src}/go.mod"
  log "wrapper go.mod replaces $(wc -w <<<"${staging}") staging modules with ${staging_version}"

  local pkgs=() name
  for name in "${bin_names[@]}"; do
    pkgs+=("k8s.io/kubernetes/cmd/${name}")
  done
  (cd "${src}" && go get "${pkgs[@]/%/@${KUBERNETES_VERSION}}")

  local minor ldflags=(-s -w) pkg
  minor=$(cut -d. -f2 <<<"${KUBERNETES_VERSION}")
  # Without these, /version says v0.0.0-master+$Format:%H$ and Helm's kubeVersion checks fail.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=(-X "${pkg}.gitVersion=${KUBERNETES_VERSION}" -X "${pkg}.gitMajor=1"
      -X "${pkg}.gitMinor=${minor}" -X "${pkg}.gitTreeState=clean")
  done
  mkdir -p "${out}/bin.partial"
  (cd "${src}" && "${NICE[@]}" go build -mod=mod "${GO_BUILD_FLAGS[@]}" -ldflags "${ldflags[*]}" \
    -o "${out}/bin.partial/" "${pkgs[@]}")
  install_bin "${out}" "${started}"
}

# etcd's own go.mods replace its sibling modules with relative paths too; a wrapper that requires
# the published go.etcd.io/etcd/server/v3 (whose root package is etcd's main) builds it.
build_etcd() {
  local out src started
  out=$(component_dir etcd "${ETCD_VERSION}")
  have_all "${out}/bin" etcd && return 0
  started=$(date +%s)
  log "building etcd ${ETCD_VERSION}"
  src="${out}/src"
  rm -rf "${src}" "${out}/bin.partial"
  mkdir -p "${src}" "${out}/bin.partial"
  printf 'module chatbot-operator.local/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "${ETCD_VERSION}" >"${src}/go.mod"
  (cd "${src}" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}")
  (cd "${src}" && "${NICE[@]}" go build -mod=mod "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w" \
    -o "${out}/bin.partial/etcd" go.etcd.io/etcd/server/v3)
  install_bin "${out}" "${started}"
}

# kwok has no replace directives: `go install` works. It refuses to run without stages, the
# state machines that make a node Ready and a pod Running/Ready: take kwok's own "fast" ones.
build_kwok() {
  local out started moddir stage
  out=$(component_dir kwok "${KWOK_VERSION}")
  have_all "${out}/bin" kwok && [[ -s "${out}/stages.yaml" ]] && return 0
  started=$(date +%s)
  log "building kwok ${KWOK_VERSION}"
  rm -rf "${out}/bin.partial"
  mkdir -p "${out}/bin.partial"
  GOBIN="${out}/bin.partial" "${NICE[@]}" go install "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  moddir=$(go_mod_json_field "sigs.k8s.io/kwok@${KWOK_VERSION}" Dir)
  {
    for stage in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      [[ -s "${moddir}/kustomize/stage/${stage}" ]] || die "kwok ${KWOK_VERSION} has no stage ${stage}"
      printf -- '---\n# from sigs.k8s.io/kwok@%s kustomize/stage/%s\n' "${KWOK_VERSION}" "${stage}"
      sed '/^---[[:space:]]*$/d' "${moddir}/kustomize/stage/${stage}"
    done
  } >"${out}/stages.yaml.partial"
  mv "${out}/stages.yaml.partial" "${out}/stages.yaml"
  install_bin "${out}" "${started}"
}

build_helm() {
  local out started major gomod client_go_minor pkg ldflags=(-s -w)
  out=$(component_dir helm "${HELM_VERSION}")
  have_all "${out}/bin" helm && return 0
  started=$(date +%s)
  log "building helm ${HELM_VERSION}"
  major=$(cut -d. -f1 <<<"${HELM_VERSION}")
  # As helm's Makefile does: the Kubernetes version that `helm template` and `helm lint` assume
  # (.Capabilities.KubeVersion) is that of the client-go it is built with; unset, it is v1.20.
  gomod=$(go_mod_json_field "helm.sh/helm/${major}@${HELM_VERSION}" GoMod)
  client_go_minor=$(sed -nE 's#^[[:space:]]*k8s\.io/client-go v0\.([0-9]+)\..*#\1#p' "${gomod}")
  [[ -n "${client_go_minor}" ]] || die "no k8s.io/client-go requirement in ${gomod}"
  ldflags+=(-X "helm.sh/helm/${major}/internal/version.version=${HELM_VERSION}")
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags+=(-X "helm.sh/helm/${major}/${pkg}.k8sVersionMajor=1"
      -X "helm.sh/helm/${major}/${pkg}.k8sVersionMinor=${client_go_minor}")
  done
  rm -rf "${out}/bin.partial"
  mkdir -p "${out}/bin.partial"
  GOBIN="${out}/bin.partial" "${NICE[@]}" go install "${GO_BUILD_FLAGS[@]}" -ldflags "${ldflags[*]}" \
    "helm.sh/helm/${major}/cmd/helm@${HELM_VERSION}"
  install_bin "${out}" "${started}"
}

link_toolset() {
  local bin_dir target
  bin_dir=$(toolset_bin_dir)
  mkdir -p "${bin_dir}"
  for target in \
    "$(component_dir kubernetes "${KUBERNETES_VERSION}")"/bin/* \
    "$(component_dir etcd "${ETCD_VERSION}")/bin/etcd" \
    "$(component_dir kwok "${KWOK_VERSION}")/bin/kwok" \
    "$(component_dir helm "${HELM_VERSION}")/bin/helm"; do
    ln -sfn "${target}" "${bin_dir}/$(basename "${target}")"
  done
  printf '%s\n' "${bin_dir}"
}

main() {
  command -v go >/dev/null || die "Go is needed to build the control plane (https://go.dev/dl)"
  mkdir -p "${CACHE_ROOT}"
  # Two builds at once (make tools in two shells) would step on each other's partial output.
  exec 9>"${CACHE_ROOT}/.build.lock"
  flock 9
  if [[ "${1:-}" == "helm" ]]; then
    build_helm
    printf '%s\n' "$(component_dir helm "${HELM_VERSION}")/bin"
    return
  fi
  [[ $# -eq 0 ]] || die "usage: hack/build-tools.sh [helm]"
  local started
  started=$(date +%s)
  # Small ones first, so a failure in the environment shows up before the long build.
  build_helm
  build_kwok
  build_etcd
  build_kubernetes
  log "tools ready in $(($(date +%s) - started))s"
  link_toolset
}

main "$@"
