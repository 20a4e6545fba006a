#!/usr/bin/env bash
# The load generator of the bot benchmark: wrk, from Debian (a closed-loop HTTP benchmark with a
# latency histogram and a Lua hook that writes its figures as JSON). The CI smoke run does not need
# it: it uses the benchmark's built-in asyncio client at tiny sizes.
set -euo pipefail

if command -v wrk >/dev/null; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
wrk --version 2>&1 | head -1 || true
