#!/usr/bin/env bash
# Runs inside the Dockerfile's build stages, never on the host: installs the dependencies of one
# extra of ./pyproject.toml into /opt/chatbot/venv, without the project itself, so that the layer
# holding them is rebuilt only when pyproject.toml changes, not with every change to the code.
#
#   pip-install-extra EXTRA
set -euo pipefail
extra=$1
python - "${extra}" >/tmp/requirements.txt <<'PY'
import sys
import tomllib

with open("pyproject.toml", "rb") as handle:
    extras = tomllib.load(handle)["project"]["optional-dependencies"]
if sys.argv[1] not in extras:
    sys.exit(f"pyproject.toml has no extra {sys.argv[1]!r} (it has {', '.join(sorted(extras))})")
print("\n".join(extras[sys.argv[1]]))
PY
pip --python /opt/chatbot/venv/bin/python install --requirement /tmp/requirements.txt
rm /tmp/requirements.txt
