#!/usr/bin/env bash
# make demo: the local cluster with its real node, our images imported into it, the chart
# installed from the operator's image, the example ChatBot on real pods, and its Service
# port-forwarded to http://127.0.0.1:8080/ (DEMO_PORT) to chat with.
#
# On a machine that cannot run containers (not root, no containerd: CLUSTER_REAL_NODE=0), it says
# why and falls back to running the operator and the bot on this machine
# (hack/run_bot_locally.py), with the pods on kwok's fake nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo_dir="$root/.demo"
namespace=demo
operator_namespace=chatbot-operator
port=${DEMO_PORT:-8080}
mkdir -p "$demo_dir"

real_node=1
if [[ "${CLUSTER_REAL_NODE:-1}" == 0 ]]; then
  real_node=0
  echo "!!! CLUSTER_REAL_NODE=0: no real node, so the bot runs on this machine instead of in a pod"
elif [[ $(id -u) -ne 0 ]]; then
  real_node=0
  export CLUSTER_REAL_NODE=0
  echo "!!! not root: the real node needs network and mount namespaces and cgroups, so the bot runs"
  echo "!!! on this machine instead of in a pod (as root, make demo runs it in real pods)"
fi

hack/cluster.sh up
eval "$(hack/cluster.sh env)"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  echo "demo stopped; the cluster keeps running (make cluster-down stops it)"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The sandbox has no internet: serve this repository as the example's corpus over git://, where
# the pods (or the local operator) can reach it.
git_host=127.0.0.1
((real_node)) && git_host=$(hack/cluster.sh node-host-ip)
git_port=$(free_port)
rm -rf "$demo_dir/git" && mkdir -p "$demo_dir/git"
git clone --quiet --bare "$root" "$demo_dir/git/chatbot-operator.git"
git -C "$demo_dir/git/chatbot-operator.git" symbolic-ref HEAD "refs/heads/$(git -C "$root" branch --show-current || echo main)"
# git-daemon itself, not `git daemon`: the wrapper would leave it running when killed.
"$(git --exec-path)/git-daemon" --reuseaddr --base-path="$demo_dir/git" --export-all --listen="$git_host" --port="$git_port" \
  "$demo_dir/git" >"$demo_dir/git-daemon.log" 2>&1 &
pids+=($!)

if ((real_node)); then
  echo "--- the images (hack/images.sh), imported into the real node's containerd"
  rm -rf "$demo_dir/images"
  # shellcheck disable=SC2046 # one path per line
  hack/cluster.sh node-import $(hack/images.sh save "$demo_dir/images")
  hack/cluster.sh node-namespace "$operator_namespace"
  hack/cluster.sh node-namespace "$namespace"
  for ns in "$operator_namespace" "$namespace"; do
    kubectl label --overwrite namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null
  done
  echo "--- helm install chatbot-operator ./chart (the operator's image, in-cluster)"
  helm upgrade --install chatbot-operator ./chart --namespace "$operator_namespace" --wait --timeout 3m \
    --set image.repository=chatbot-operator --set image.tag=dev \
    --set botImage.repository=chatbot-bot --set botImage.tag=dev
else
  echo "--- helm install chatbot-operator ./chart"
  helm upgrade --install chatbot-operator ./chart --namespace "$operator_namespace" --create-namespace --wait --timeout 2m
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
  echo "--- the operator (python -m chatbot_operator), logs in .demo/operator.log"
  liveness_port=$(free_port)
  CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS=10 CHATBOT_OPERATOR_LIVENESS_HOST=127.0.0.1 CHATBOT_OPERATOR_LIVENESS_PORT=$liveness_port \
    .venv/bin/python -m chatbot_operator >"$demo_dir/operator.log" 2>&1 &
  pids+=($!)
fi

echo "--- kubectl apply -f examples/chatbot.yaml (corpus served from git://$git_host:$git_port)"
sed "s|https://github.com/chatbot-operator/chatbot-operator.git|git://$git_host:$git_port/chatbot-operator.git|" \
  examples/chatbot.yaml | kubectl apply -n "$namespace" -f -
kubectl get chatbots -n "$namespace"
kubectl wait -n "$namespace" --for=condition=Ready chatbot/docs-assistant --timeout=300s
kubectl get chatbots -n "$namespace"

if ((real_node)); then
  kubectl get pods -n "$namespace" -o wide
  echo "--- kubectl port-forward svc/docs-assistant $port:80"
  echo ">>> chat with the example bot (in its pods) at http://127.0.0.1:$port/  (Ctrl-C stops the demo)"
  kubectl port-forward -n "$namespace" svc/docs-assistant "$port:80" &
  pids+=($!)
else
  echo "--- the example bot, run from its Deployment's pod spec"
  .venv/bin/python hack/run_bot_locally.py --namespace "$namespace" --name docs-assistant --port "$port" \
    --workdir "$demo_dir/bot" &
  pids+=($!)
fi
wait "${pids[-1]}"
