#!/usr/bin/env bash
# Debian packages the test tiers use. Idempotent: installs only what is missing.
set -euo pipefail
needed=()
command -v git >/dev/null || needed+=(git)
command -v openssl >/dev/null || needed+=(openssl)
command -v chromium >/dev/null || needed+=(chromium)
# The real node (hack/node.sh): container runtime, CNI plugins, kube-proxy's iptables and
# conntrack, socat (the node reaches the API server on loopback through it), gcc and a static libc
# (the pause binary).
command -v containerd >/dev/null || needed+=(containerd)
command -v runc >/dev/null || needed+=(runc)
[[ -x /usr/lib/cni/bridge ]] || needed+=(containernetworking-plugins)
command -v iptables >/dev/null || needed+=(iptables)
command -v conntrack >/dev/null || needed+=(conntrack)
command -v socat >/dev/null || needed+=(socat)
command -v gcc >/dev/null || needed+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || needed+=(libc6-dev)
command -v nsenter >/dev/null || needed+=(util-linux)
command -v ip >/dev/null || needed+=(iproute2)
# The images (hack/engine.sh, hack/base-image.sh): Debian's Docker engine and CLI, and debootstrap
# for the local base image. Checked by path: another `docker` may come first on PATH.
[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || needed+=(docker.io)
[[ -x /usr/sbin/debootstrap ]] || needed+=(debootstrap)
if ((${#needed[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
