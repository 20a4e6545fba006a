#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A real Kubernetes control plane on loopback, for end-to-end tests (see docs/control-plane.md).
#
#   hack/cluster.sh up      build/reuse the binaries, start etcd, kube-apiserver,
#                           kube-controller-manager, kube-scheduler and kwok with 3 fake nodes,
#                           and one real node (hack/node.sh; CLUSTER_REAL_NODE=0: none);
#                           wait until /readyz is ok and every node is Ready
#   hack/cluster.sh down    stop every process `up` started and remove its temporary directory
#                           (and the real node's namespaces, cgroups and veth)
#   hack/cluster.sh env     print `export KUBECONFIG=...; export PATH=...` for eval
#   hack/cluster.sh status  exit 0 if the recorded processes are alive and /readyz is ok
#   hack/cluster.sh logs    print the last lines of every component's log
#   hack/cluster.sh node-import ARCHIVE...   import image archives (docker save / OCI) into the
#                           real node's containerd (pods use them with imagePullPolicy IfNotPresent)
#   hack/cluster.sh node-namespace NAME      create (or keep) a namespace whose pods run on the
#                           real node (PodNodeSelector + PodTolerationRestriction annotations)
#   hack/cluster.sh node-host-ip             the host's address as pods see it (serve there
#                           what pods must reach: a git server, a fake LLM)
#   hack/cluster.sh node-exec COMMAND...     run a command in the real node's network namespace
#                           (Service ClusterIPs and pod IPs are reachable there)
#
# State lives in $CLUSTER_DIR (default ~/.cache/chatbot-operator/cluster): kubeconfig, pids,
# and `run-dir`, the path of the temporary directory with certificates, etcd data and logs.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=node.sh
source "${HACK_DIR}/node.sh"

KUBECONFIG_PATH="${CLUSTER_DIR}/kubeconfig"
PIDS_FILE="${CLUSTER_DIR}/pids"
RUN_DIR_FILE="${CLUSTER_DIR}/run-dir"
NODE_COUNT=${CLUSTER_NODES:-3}
# Bounded waits: a component that is not up by then will not come up.
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-120}
SERVICE_CIDR=10.96.0.0/16
SA_ISSUER=https://kubernetes.default.svc.cluster.local

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A private CA, serving certs and client certs (CN = user, O = group) for each component.
make_pki() { # dir [extra subjectAltName entries]
  local pki=$1 extra_sans=${2:-}
  mkdir -p "${pki}"
  (
    cd "${pki}"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=chatbot-operator-e2e-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    # Service account tokens are signed with a key of their own.
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf 'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1%s\nextendedKeyUsage=serverAuth\n' "${extra_sans}" >serving.ext
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    sign serving "/CN=kube-apiserver" serving.ext
    sign admin "/O=system:masters/CN=chatbot-operator-e2e-admin" client.ext
    sign controller-manager "/CN=system:kube-controller-manager" client.ext
    sign scheduler "/CN=system:kube-scheduler" client.ext
    # The aggregation layer's client: with it configured, components that delegate
    # authentication find a complete extension-apiserver-authentication ConfigMap.
    sign front-proxy-client "/CN=front-proxy-client" client.ext
    # The API server's identity towards kubelets (logs, exec, port-forward).
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client.ext
  )
}

sign() { # name subject extfile (in the pki dir)
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$3" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr"
}

write_kubeconfig() { # path server pki-dir user
  local ca crt key
  ca=$(base64 -w0 <"$3/ca.crt")
  crt=$(base64 -w0 <"$3/$4.crt")
  key=$(base64 -w0 <"$3/$4.key")
  (
    umask 077
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chatbot-operator-e2e
  cluster: {server: "$2", certificate-authority-data: "${ca}"}
users:
- name: $4
  user: {client-certificate-data: "${crt}", client-key-data: "${key}"}
contexts:
- name: chatbot-operator-e2e
  context: {cluster: chatbot-operator-e2e, user: $4}
current-context: chatbot-operator-e2e
EOF
  )
}

# Starts a component in a session of its own (so a Ctrl-C meant for the caller does not reach
# it) with its output in the run dir, and records "<pid> <name>" for `down`.
start() { # name binary args...
  local name=$1 binary=$2
  shift 2
  setsid "${binary}" "$@" </dev/null >"${RUN_DIR}/logs/${name}.log" 2>&1 &
  printf '%s %s %s\n' "$!" "${name}" "${binary}" >>"${PIDS_FILE}"
  log "started ${name} (pid $!)"
}

wait_for() { # description command...
  local description=$1 deadline=$((SECONDS + READY_TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      print_logs >&2
      die "timed out after ${READY_TIMEOUT}s waiting for ${description}"
    fi
    check_alive
    sleep 0.5
  done
  log "${description}: ok"
}

check_alive() {
  local pid name binary
  while read -r pid name binary; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      print_logs >&2
      die "${name} (pid ${pid}) exited; its log is ${RUN_DIR}/logs/${name}.log"
    fi
  done <"${PIDS_FILE}"
}

print_logs() {
  local run_dir file lines=${LOG_LINES:-40}
  [[ -f "${RUN_DIR_FILE}" ]] || return 0
  run_dir=$(<"${RUN_DIR_FILE}")
  for file in "${run_dir}"/logs/*.log; do
    [[ -f "${file}" ]] || continue
    printf '===== %s (last %s lines) =====\n' "${file}" "${lines}"
    tail -n "${lines}" "${file}"
  done
}

create_nodes() {
  local i
  for ((i = 0; i < NODE_COUNT; i++)); do
    # No NoSchedule taint: the operator's pods must land on these nodes exactly as they are,
    # without kwok-specific tolerations. kwok manages every node carrying the annotation.
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-${i}
    type: kwok
EOF
  done | "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" apply -f - >/dev/null
}

nodes_ready() {
  local ready
  ready=$("${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" get nodes \
    -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '^True$' || true)
  ((ready == NODE_COUNT))
}

# The default ServiceAccount appears in each namespace only once the controller-manager's
# service account controller runs: waiting for it proves that controller (and its token
# signing) is up.
default_sa_exists() {
  "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" -n default get serviceaccount default
}

cmd_up() {
  if [[ -s "${PIDS_FILE}" ]]; then
    if cmd_status 2>/dev/null; then
      log "cluster already running; KUBECONFIG=${KUBECONFIG_PATH}"
      return 0
    fi
    log "found a stale cluster; stopping it first"
    cmd_down
  fi
  BIN_DIR=$("${HACK_DIR}/build-tools.sh")
  mkdir -p "${CLUSTER_DIR}"
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chatbot-operator-cluster.XXXXXX")
  printf '%s\n' "${RUN_DIR}" >"${RUN_DIR_FILE}"
  : >"${PIDS_FILE}"
  mkdir -p "${RUN_DIR}/logs" "${RUN_DIR}/etcd"
  log "run dir (certificates, etcd data, logs): ${RUN_DIR}"
  local node_sans=""
  if node_wanted; then
    node_check_requirements
    node_plan
    node_sans=",IP:${NODE_HOST_IP}"
  fi
  make_pki "${RUN_DIR}/pki" "${node_sans}"
  node_wanted && node_pki "${RUN_DIR}/pki"
  local pki="${RUN_DIR}/pki"

  local etcd_port etcd_peer_port api_port cm_port sched_port kwok_port
  etcd_port=$(free_port)
  etcd_peer_port=$(free_port)
  api_port=$(free_port)
  cm_port=$(free_port)
  sched_port=$(free_port)
  kwok_port=$(free_port)

  start etcd "${BIN_DIR}/etcd" \
    --name=e2e --data-dir="${RUN_DIR}/etcd" \
    --listen-client-urls="http://127.0.0.1:${etcd_port}" \
    --advertise-client-urls="http://127.0.0.1:${etcd_port}" \
    --listen-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
    --initial-cluster="e2e=http://127.0.0.1:${etcd_peer_port}" \
    --unsafe-no-fsync --log-level=warn
  wait_for "etcd health" curl -fsS "http://127.0.0.1:${etcd_port}/health"

  # Every write and who made it, at Metadata level (no bodies, so no Secret values): how the
  # operator benchmark counts the operator's own API writes (benchmarks/operator_scale.py).
  # Reads too, but only those of service accounts outside kube-system (the operator under test,
  # not the controllers): the RBAC test checks every rule the chart grants was used
  # (tests/e2e/test_security_rbac.py). Count writes by their verb.
  mkdir -p "${RUN_DIR}/audit"
  printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' \
    'rules:' \
    '- {level: None, verbs: [get, list, watch], userGroups: ["system:serviceaccounts:kube-system"]}' \
    '- {level: Metadata, verbs: [get, list, watch], userGroups: ["system:serviceaccounts"]}' \
    '- {level: None, verbs: [get, list, watch]}' '- {level: Metadata}' \
    >"${RUN_DIR}/audit/policy.yaml"

  local server="https://127.0.0.1:${api_port}"
  start kube-apiserver "${BIN_DIR}/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${api_port}" \
    --etcd-servers="http://127.0.0.1:${etcd_port}" \
    --tls-cert-file="${pki}/serving.crt" --tls-private-key-file="${pki}/serving.key" \
    --client-ca-file="${pki}/ca.crt" \
    --requestheader-client-ca-file="${pki}/ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="${pki}/front-proxy-client.crt" \
    --proxy-client-key-file="${pki}/front-proxy-client.key" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction,PodSecurity,PodNodeSelector,PodTolerationRestriction \
    --kubelet-preferred-address-types=InternalIP \
    --kubelet-certificate-authority="${pki}/ca.crt" \
    --kubelet-client-certificate="${pki}/apiserver-kubelet-client.crt" \
    --kubelet-client-key="${pki}/apiserver-kubelet-client.key" \
    --service-account-issuer="${SA_ISSUER}" \
    --service-account-key-file="${pki}/sa.pub" \
    --service-account-signing-key-file="${pki}/sa.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --endpoint-reconciler-type=none \
    --audit-policy-file="${RUN_DIR}/audit/policy.yaml" \
    --audit-log-path="${RUN_DIR}/audit/audit.log" \
    --audit-log-format=json \
    --allow-privileged=false
  write_kubeconfig "${KUBECONFIG_PATH}" "${server}" "${pki}" admin
  wait_for "kube-apiserver /readyz" "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" \
    get --raw /readyz

  write_kubeconfig "${RUN_DIR}/controller-manager.kubeconfig" "${server}" "${pki}" controller-manager
  # Each controller runs as its own ServiceAccount (as kubeadm does), so the bootstrap RBAC
  # roles apply; the garbage collector (on by default) cascades owner references.
  start kube-controller-manager "${BIN_DIR}/kube-controller-manager" \
    --kubeconfig="${RUN_DIR}/controller-manager.kubeconfig" \
    --authentication-kubeconfig="${RUN_DIR}/controller-manager.kubeconfig" \
    --authorization-kubeconfig="${RUN_DIR}/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="${cm_port}" \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${pki}/sa.key" \
    --root-ca-file="${pki}/ca.crt" \
    --cluster-signing-cert-file="${pki}/ca.crt" --cluster-signing-key-file="${pki}/ca.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --controllers='*,-nodeipam' \
    --leader-elect=false

  write_kubeconfig "${RUN_DIR}/scheduler.kubeconfig" "${server}" "${pki}" scheduler
  start kube-scheduler "${BIN_DIR}/kube-scheduler" \
    --kubeconfig="${RUN_DIR}/scheduler.kubeconfig" \
    --authentication-kubeconfig="${RUN_DIR}/scheduler.kubeconfig" \
    --authorization-kubeconfig="${RUN_DIR}/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="${sched_port}" \
    --leader-elect=false

  # kwok's own stages (node initialize and heartbeat, pod ready/complete/delete) and ours.
  cat "$(kwok_stages_file)" >"${RUN_DIR}/kwok-stages.yaml"
  local stage
  for stage in "${HACK_DIR}"/kwok-stages/*.yaml; do
    printf -- '---\n' >>"${RUN_DIR}/kwok-stages.yaml"
    cat "${stage}" >>"${RUN_DIR}/kwok-stages.yaml"
  done
  start kwok "${BIN_DIR}/kwok" \
    --kubeconfig="${KUBECONFIG_PATH}" \
    --config="${RUN_DIR}/kwok-stages.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 \
    --cidr=10.244.0.1/16 \
    --server-address="127.0.0.1:${kwok_port}"

  wait_for "default ServiceAccount (controller-manager)" default_sa_exists
  create_nodes
  wait_for "${NODE_COUNT} nodes Ready (kwok)" nodes_ready
  if node_wanted; then
    node_up "${pki}" "${api_port}"
  fi
  check_alive
  log "cluster up: ${server}"
  log "use it with: eval \"\$(${HACK_DIR}/cluster.sh env)\""
}

# Stops what `up` recorded. A PID is only signalled while it still runs the binary we started,
# so a recycled PID is never touched.
cmd_down() {
  local pid name binary deadline
  # First and hard: the real node's processes, containers included, all at once.
  node_down
  if [[ -f "${PIDS_FILE}" ]]; then
    # Reverse order: kwok and the controllers before the apiserver, etcd last.
    while read -r pid name binary; do
      if [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "$(readlink -f "${binary}")" ]]; then
        kill -TERM "${pid}" 2>/dev/null || true
        deadline=$((SECONDS + 15))
        while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do
          sleep 0.2
        done
        kill -KILL "${pid}" 2>/dev/null || true
        log "stopped ${name} (pid ${pid})"
      fi
    done < <(tac "${PIDS_FILE}")
    rm -f "${PIDS_FILE}"
  fi
  if [[ -f "${RUN_DIR_FILE}" ]]; then
    local run_dir
    run_dir=$(<"${RUN_DIR_FILE}")
    if [[ "${run_dir}" == */chatbot-operator-cluster.* && -d "${run_dir}" ]]; then
      if [[ -n "${CLUSTER_KEEP_LOGS:-}" ]]; then
        rm -rf "${run_dir}/etcd" "${run_dir}/pki"
        log "logs kept in ${run_dir}/logs"
      else
        rm -rf "${run_dir}"
      fi
    fi
    rm -f "${RUN_DIR_FILE}"
  fi
  rm -f "${KUBECONFIG_PATH}"
}

cmd_status() {
  local pid name binary
  [[ -s "${PIDS_FILE}" ]] || return 1
  while read -r pid name binary; do
    kill -0 "${pid}" 2>/dev/null || {
      log "${name} (pid ${pid}) is not running"
      return 1
    }
  done <"${PIDS_FILE}"
  "$(toolset_bin_dir)/kubectl" --kubeconfig "${KUBECONFIG_PATH}" get --raw /readyz >/dev/null
}

# A namespace whose pods all go to the real node: the node selector and the toleration of its
# taint are added by admission (PodNodeSelector, PodTolerationRestriction), so the operator's
# Deployments and the chart run there unchanged.
cmd_node_namespace() { # name
  node_load || die "no real node in ${CLUSTER_DIR}"
  local kubectl=("$(toolset_bin_dir)/kubectl" --kubeconfig "${KUBECONFIG_PATH}")
  "${kubectl[@]}" create namespace "$1" --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
  "${kubectl[@]}" annotate --overwrite namespace "$1" \
    "scheduler.alpha.kubernetes.io/node-selector=kubernetes.io/hostname=${NODE_NAME}" \
    "scheduler.alpha.kubernetes.io/defaultTolerations=[{\"key\": \"${NODE_TAINT}\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]" >/dev/null
  log "namespace $1: its pods run on ${NODE_NAME}"
}

cmd_env() {
  # $PATH is left for the shell that evals this line to expand.
  # shellcheck disable=SC2016
  printf 'export KUBECONFIG=%q; export PATH=%q:"$PATH"\n' "${KUBECONFIG_PATH}" "$(toolset_bin_dir)"
}

main() {
  case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  logs) print_logs ;;
  node-import)
    shift
    node_import "$@"
    ;;
  node-namespace) cmd_node_namespace "${2:?a namespace name}" ;;
  node-host-ip) node_load && printf '%s\n' "${NODE_HOST_IP}" ;;
  node-exec)
    shift
    node_load || die "no real node in ${CLUSTER_DIR}"
    exec nsenter -t "${NODE_HOLDER_PID}" -n -- "$@"
    ;;
  *)
    sed -n '2,24p' "$0" >&2
    exit 2
    ;;
  esac
}

main "$@"
