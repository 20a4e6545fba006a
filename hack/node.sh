# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# The real node of the local cluster (see docs/control-plane.md, "The real node"): containerd,
# kubelet, kube-proxy and CoreDNS, so that pods really run. Sourced by hack/cluster.sh.
#
# Everything the node makes stays in places of its own, so that `down` removes it all:
# - a network namespace with one veth pair to the host: the node is NODE_IP, the host end is
#   NODE_HOST_IP (a /30 of 10.213.0.0/16 of its own). The namespace has no default route: pods
#   reach the host end (the API server through socat, a test's git server or fake LLM) and
#   nothing else. The CNI bridge, pod veths and every iptables rule (CNI's, kube-proxy's) live in
#   that namespace and go with it.
# - a mount namespace (private propagation) with tmpfs over /run, /var/log and /var/lib/cni: the
#   kubelet's volume mounts, containerd's rootfs mounts, pod netns files and shim sockets never
#   appear on the host and vanish with the namespace.
# - a cgroup tree /chatbot-operator-node-N (the kubelet's cgroupRoot, the node's processes under
#   node/): `down` kills every process in it (containers included) and removes it.
# Pods run on the node only from namespaces that ask for it (node_namespace): the node is tainted,
# so the kwok tiers' pods never land there.

NODE_STATE_FILE="${CLUSTER_DIR}/node.env"
NODE_NAME=real-node
NODE_TAINT=chatbot-operator.io/real-node
NODE_POD_CIDR=10.244.0.0/24
NODE_DNS_IP=10.96.0.10
PAUSE_IMAGE=chatbot-operator.local/pause:${KUBERNETES_VERSION}

# Whether `up` starts the real node: CLUSTER_REAL_NODE=0 leaves only the kwok nodes.
node_wanted() {
  [[ "${CLUSTER_REAL_NODE:-1}" != 0 ]]
}

# What the node needs on this machine; dies naming the first thing missing.
node_check_requirements() {
  [[ $(id -u) -eq 0 ]] || die "the real node needs root (network and mount namespaces, cgroups); run as root or set CLUSTER_REAL_NODE=0"
  local tool
  for tool in containerd containerd-shim-runc-v2 runc ctr iptables socat nsenter unshare ip mount; do
    command -v "${tool}" >/dev/null || die "the real node needs ${tool}: run hack/install-system-deps.sh (or set CLUSTER_REAL_NODE=0)"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap ]] ||
    die "the real node needs the CNI plugins in /usr/lib/cni: run hack/install-system-deps.sh"
  [[ -d /sys/fs/cgroup/pids || -f /sys/fs/cgroup/cgroup.controllers ]] || die "no cgroup filesystem at /sys/fs/cgroup"
}

# Picks a free /30 for the veth pair (two clusters on one machine each get their own) and writes
# the node's state file; the host end's address goes into the API server's certificate.
node_plan() {
  local hash index i
  hash=$(printf '%s' "${CLUSTER_DIR}" | sha256sum | cut -c1-4)
  for ((i = 0; i < 256; i++)); do
    index=$(((16#${hash} + i) % 16384))
    if ! ip -o addr show | grep -q " 10\.213\.$((index / 64))\.$((index % 64 * 4 + 1))/"; then
      break
    fi
  done
  cat >"${NODE_STATE_FILE}" <<EOF
NODE_INDEX=${index}
NODE_HOST_IP=10.213.$((index / 64)).$((index % 64 * 4 + 1))
NODE_IP=10.213.$((index / 64)).$((index % 64 * 4 + 2))
NODE_VETH=cbo-node-${index}
NODE_CGROUP=chatbot-operator-node-${index}
NODE_PAUSE_IMAGE=${PAUSE_IMAGE}
EOF
  node_load
}

node_load() {
  [[ -f "${NODE_STATE_FILE}" ]] || return 1
  # shellcheck source=/dev/null
  source "${NODE_STATE_FILE}"
}

node_cgroup_dirs() { # every hierarchy's directory of the node's cgroup tree
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -f "${hierarchy}cgroup.procs" ]] && printf '%s%s\n' "${hierarchy}" "${NODE_CGROUP}"
  done
}

# The kubelet's cgroupRoot must exist in every hierarchy; a new cpuset cgroup starts with no CPUs.
node_make_cgroups() {
  local dir
  while read -r dir; do
    mkdir -p "${dir}"
    if [[ -f "${dir}/cpuset.cpus" ]]; then
      cat "$(dirname "${dir}")/cpuset.cpus" >"${dir}/cpuset.cpus"
      cat "$(dirname "${dir}")/cpuset.mems" >"${dir}/cpuset.mems"
    fi
  done < <(node_cgroup_dirs)
  mkdir -p "/sys/fs/cgroup/pids/${NODE_CGROUP}/node"
}

# Starts a node component inside the node's namespaces and cgroup, recorded like the others.
node_start() { # name binary args...
  local name=$1 binary=$2
  shift 2
  setsid sh -c 'echo $$ >"$1" && holder=$2 && shift 2 && exec nsenter -t "${holder}" -m -n -- "$@"' sh \
    "/sys/fs/cgroup/pids/${NODE_CGROUP}/node/cgroup.procs" "${NODE_HOLDER_PID}" "${binary}" "$@" \
    </dev/null >"${RUN_DIR}/logs/${name}.log" 2>&1 &
  printf '%s %s %s\n' "$!" "${name}" "${binary}" >>"${PIDS_FILE}"
  log "started ${name} on the real node (pid $!)"
}

node_in() { # runs a command in the node's network and mount namespaces
  nsenter -t "${NODE_HOLDER_PID}" -m -n -- "$@"
}

# The namespaces: a holder process owns them for the node's lifetime.
node_make_namespaces() {
  setsid sh -c 'echo $$ >"$1" && exec unshare --mount --net --propagation private sleep infinity' sh \
    "/sys/fs/cgroup/pids/${NODE_CGROUP}/node/cgroup.procs" </dev/null >/dev/null 2>&1 &
  NODE_HOLDER_PID=$!
  printf 'NODE_HOLDER_PID=%s\n' "${NODE_HOLDER_PID}" >>"${NODE_STATE_FILE}"
  local deadline=$((SECONDS + 10))
  until [[ "$(readlink "/proc/${NODE_HOLDER_PID}/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ]]; do
    ((SECONDS < deadline)) || die "the node's namespaces did not appear"
    sleep 0.1
  done
  node_in mount -t tmpfs -o mode=755 tmpfs /run
  node_in mount -t tmpfs -o mode=755 tmpfs /var/log
  mkdir -p /var/lib/cni
  node_in mount -t tmpfs -o mode=755 tmpfs /var/lib/cni
  ip link add "${NODE_VETH}" type veth peer name eth0 netns "/proc/${NODE_HOLDER_PID}/ns/net"
  ip addr add "${NODE_HOST_IP}/30" dev "${NODE_VETH}"
  ip link set "${NODE_VETH}" up
  node_in ip addr add "${NODE_IP}/30" dev eth0
  node_in ip link set eth0 up
  node_in ip link set lo up
  # Service IPs are rewritten by kube-proxy's rules, but a process of the node (a test's client)
  # needs a route to them first: on-link on the veth, so that an IP no rule rewrites goes nowhere
  # (the host answers no ARP for it) instead of being routed on by the host.
  node_in ip route add "${SERVICE_CIDR}" dev eth0 src "${NODE_IP}"
}

node_config() {
  local node_dir=$1 pki=$2
  mkdir -p "${node_dir}"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs}
  cat >"${node_dir}/containerd/config.toml" <<EOF
version = 2
root = "${node_dir}/containerd/root"
state = "${node_dir}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${node_dir}/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${node_dir}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE on every machine: a sandbox's oom_score_adj of -998 would be refused.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${node_dir}/cni/net.d"
EOF
  cat >"${node_dir}/cni/net.d/10-chatbot-operator.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "chatbot-operator",
  "plugins": [
    {
      "type": "bridge", "bridge": "cbo0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "${node_dir}/cni/ipam",
        "ranges": [[{"subnet": "${NODE_POD_CIDR}"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # Pods with dnsPolicy Default get no nameserver: there is nothing outside to ask.
  : >"${node_dir}/resolv.conf"
  cat >"${node_dir}/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This kernel mounts cgroup v1, which Kubernetes 1.35 refuses unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /${NODE_CGROUP}
failSwapOn: false
address: ${NODE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: ${pki}/kubelet-serving.crt
tlsPrivateKeyFile: ${pki}/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: ${pki}/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
clusterDNS: [${NODE_DNS_IP}]
resolvConf: ${node_dir}/resolv.conf
containerRuntimeEndpoint: unix://${node_dir}/containerd/containerd.sock
podLogsDir: ${node_dir}/pod-logs
registerWithTaints:
- {key: ${NODE_TAINT}, value: "true", effect: NoSchedule}
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
rotateCertificates: false
EOF
  cat >"${node_dir}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: ${node_dir}/kube-proxy.kubeconfig}
hostnameOverride: ${NODE_NAME}
clusterCIDR: ${NODE_POD_CIDR}
bindAddress: ${NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# A pod that calls a Service backed by a pod on the same bridge gets the answer back through the
# node (no br_netfilter needed).
iptables: {masqueradeAll: true, localhostNodePorts: false}
# Leave the host-wide conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  cat >"${node_dir}/Corefile" <<EOF
.:53 {
    errors
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${node_dir}/coredns.kubeconfig chatbot-operator-e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
EOF
}

# The certificates the node's components use: the kubelet's own (Node authorizer), its serving
# certificate for the API server's logs/exec/port-forward calls, kube-proxy's and CoreDNS's.
node_pki() { # pki-dir
  (
    cd "$1"
    umask 077
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "${NODE_IP}" >kubelet-serving.ext
    sign kubelet-serving "/CN=${NODE_NAME}" kubelet-serving.ext
    sign kubelet "/O=system:nodes/CN=system:node:${NODE_NAME}" client.ext
    sign kube-proxy "/CN=system:kube-proxy" client.ext
    sign coredns "/CN=chatbot-operator:coredns" client.ext
  )
}

# What the API server's kubernetes Service and CoreDNS's kube-dns Service route to: the host end
# (socat to the API server on loopback) and CoreDNS on the node. Both selector-less.
node_cluster_objects() {
  "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-node
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints: [{addresses: ["${NODE_HOST_IP}"], conditions: {ready: true}}]
ports: [{name: https, port: ${API_PORT}, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: ${NODE_DNS_IP}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
addressType: IPv4
endpoints: [{addresses: ["${NODE_IP}"], conditions: {ready: true}}]
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: chatbot-operator:coredns
rules:
- {apiGroups: [""], resources: [services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: chatbot-operator:coredns
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "chatbot-operator:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "chatbot-operator:coredns"}]
EOF
}

node_ready() {
  [[ "$("${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" get node "${NODE_NAME}" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

node_import() { # image archives (docker save or OCI)...
  local archive
  node_load || die "no real node in ${CLUSTER_DIR}"
  for archive in "$@"; do
    ctr --address "$(<"${CLUSTER_DIR}/node-containerd-socket")" -n k8s.io images import \
      --all-platforms "${archive}" >/dev/null
    log "imported ${archive} into the real node"
  done
}

# Started by cmd_up once the API server answers; API_PORT, RUN_DIR, BIN_DIR, pki set by it.
node_up() { # pki-dir api-server-port
  local pki=$1 node_dir="${RUN_DIR}/node"
  API_PORT=$2
  node_config "${node_dir}" "${pki}"
  write_kubeconfig "${node_dir}/kubelet.kubeconfig" "https://${NODE_HOST_IP}:${API_PORT}" "${pki}" kubelet
  write_kubeconfig "${node_dir}/kube-proxy.kubeconfig" "https://${NODE_HOST_IP}:${API_PORT}" "${pki}" kube-proxy
  write_kubeconfig "${node_dir}/coredns.kubeconfig" "https://${NODE_HOST_IP}:${API_PORT}" "${pki}" coredns
  node_make_cgroups
  node_make_namespaces
  # The API server listens on loopback only; the node reaches it at the host end of its veth.
  start api-forward "$(command -v socat)" \
    "TCP-LISTEN:${API_PORT},bind=${NODE_HOST_IP},fork,reuseaddr" "TCP:127.0.0.1:${API_PORT}"
  node_cluster_objects

  node_start containerd "$(command -v containerd)" --config "${node_dir}/containerd/config.toml"
  printf '%s\n' "${node_dir}/containerd/containerd.sock" >"${CLUSTER_DIR}/node-containerd-socket"
  wait_for "containerd" ctr --address "${node_dir}/containerd/containerd.sock" version
  python3 "${HACK_DIR}/image_tar.py" "${node_dir}/pause.tar" "${PAUSE_IMAGE}" /pause \
    "${BIN_DIR}/pause=/pause"
  node_import "${node_dir}/pause.tar"

  node_start kubelet "${BIN_DIR}/kubelet" \
    --config="${node_dir}/kubelet/config.yaml" \
    --kubeconfig="${node_dir}/kubelet.kubeconfig" \
    --root-dir="${node_dir}/kubelet" \
    --hostname-override="${NODE_NAME}" \
    --node-ip="${NODE_IP}" \
    --node-labels="chatbot-operator.io/node=real"
  node_start kube-proxy "${BIN_DIR}/kube-proxy" --config="${node_dir}/kube-proxy.yaml"
  node_start coredns "${BIN_DIR}/coredns" -conf "${node_dir}/Corefile"
  wait_for "real node ${NODE_NAME} Ready (kubelet, containerd ${NODE_IP})" node_ready
  wait_for "CoreDNS ready" node_in curl -fsS http://127.0.0.1:8181/ready
}

# Kills every process of the node (components, shims, containers), then removes its cgroups and
# the host end of its veth. The namespaces, with their mounts, rules and interfaces, go with the
# last process in them.
node_down() {
  node_load || return 0
  local dir procs round
  for ((round = 0; round < 50; round++)); do
    procs=$(find "/sys/fs/cgroup/pids/${NODE_CGROUP}" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
    [[ -n "${procs}" ]] || break
    # shellcheck disable=SC2086
    kill -KILL ${procs} 2>/dev/null || true
    sleep 0.1
  done
  [[ -z "${procs}" ]] || log "warning: processes left in cgroup ${NODE_CGROUP}: ${procs}"
  while read -r dir; do
    [[ -d "${dir}" ]] && find "${dir}" -depth -type d -exec rmdir {} + 2>/dev/null
    [[ -d "${dir}" ]] && log "warning: cgroup ${dir} is still there"
  done < <(node_cgroup_dirs)
  ip link del "${NODE_VETH}" 2>/dev/null || true
  rm -f "${NODE_STATE_FILE}" "${CLUSTER_DIR}/node-containerd-socket"
  log "stopped the real node (cgroup ${NODE_CGROUP}, veth ${NODE_VETH})"
}
