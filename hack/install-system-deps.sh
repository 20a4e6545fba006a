#!/usr/bin/env bash
# Debian packages the test tiers use. Idempotent: installs only what is missing.
set -euo pipefail
needed=()
command -v git >/dev/null || needed+=(git)
command -v openssl >/dev/null || needed+=(openssl)
command -v chromium >/dev/null || needed+=(chromium)
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
