#!/usr/bin/env bash
# make demo: the local control plane, the chart, the operator, the example ChatBot turning Ready,
# and its bot running on this machine from the Deployment's own pod spec, ready to chat with.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo_dir="$root/.demo"
namespace=demo
port=${DEMO_PORT:-8080}
mkdir -p "$demo_dir"

hack/cluster.sh up
eval "$(hack/cluster.sh env)"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  echo "demo stopped; the control plane keeps running (make cluster-down stops it)"
}
trap cleanup EXIT

echo "--- helm install chatbot-operator ./chart"
helm upgrade --install chatbot-operator ./chart --namespace chatbot-operator --create-namespace --wait --timeout 2m
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -

# The sandbox has no internet: serve this repository as the example's corpus over git://.
git_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$demo_dir/git" && mkdir -p "$demo_dir/git"
git clone --quiet --bare "$root" "$demo_dir/git/chatbot-operator.git"
git -C "$demo_dir/git/chatbot-operator.git" symbolic-ref HEAD "refs/heads/$(git -C "$root" branch --show-current || echo main)"
git daemon --reuseaddr --base-path="$demo_dir/git" --export-all --listen=127.0.0.1 --port="$git_port" \
  "$demo_dir/git" >"$demo_dir/git-daemon.log" 2>&1 &
pids+=($!)

echo "--- the operator (python -m chatbot_operator), logs in .demo/operator.log"
liveness_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS=10 CHATBOT_OPERATOR_LIVENESS_HOST=127.0.0.1 CHATBOT_OPERATOR_LIVENESS_PORT=$liveness_port \
  .venv/bin/python -m chatbot_operator >"$demo_dir/operator.log" 2>&1 &
pids+=($!)

echo "--- kubectl apply -f examples/chatbot.yaml (corpus served from git://127.0.0.1:$git_port)"
sed "s|https://github.com/chatbot-operator/chatbot-operator.git|git://127.0.0.1:$git_port/chatbot-operator.git|" \
  examples/chatbot.yaml | kubectl apply -n "$namespace" -f -
kubectl get chatbots -n "$namespace"
kubectl wait -n "$namespace" --for=condition=Ready chatbot/docs-assistant --timeout=180s
kubectl get chatbots -n "$namespace"

echo "--- the example bot, run from its Deployment's pod spec"
.venv/bin/python hack/run_bot_locally.py --namespace "$namespace" --name docs-assistant --port "$port" \
  --workdir "$demo_dir/bot" &
pids+=($!)
wait "${pids[-1]}"
