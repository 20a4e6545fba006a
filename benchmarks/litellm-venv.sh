#!/usr/bin/env bash
# A throwaway virtual environment with the LiteLLM proxy, the peer the bot benchmark compares with.
# It lives outside the project (never in CI, never in the project's venv) and pins one exact release:
# 1.82.7, 1.82.8 and 1.107.x were withdrawn; 1.102.4 predates the 1.107 incident and its requirements
# resolve on the package index as mirrored here (1.105 and later need a newer certifi than it has).
# Prints the path of the environment's `litellm` executable.
set -euo pipefail

LITELLM_VERSION="${LITELLM_VERSION:-1.102.4}"
case "$LITELLM_VERSION" in
  1.82.7 | 1.82.8 | 1.107.*) echo "litellm $LITELLM_VERSION was withdrawn; pick another version" >&2; exit 2 ;;
esac
PYTHON="${PYTHON:-python3}"
VENV="${LITELLM_VENV:-$HOME/.cache/chatbot-operator/litellm-$LITELLM_VERSION}"

if [[ ! -x "$VENV/bin/litellm" ]]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet "litellm[proxy]==$LITELLM_VERSION" >&2
fi
echo "$VENV/bin/litellm"
