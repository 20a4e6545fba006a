#!/usr/bin/env bash
# Fetch the lowkey-vault app jar (a Key Vault emulator) into ~/.cache/chatbot-operator/lowkey-vault/
# with Maven, from Maven Central only. The integration tests use it when present
# (tests/support/lowkey_vault.py) and otherwise a local Key Vault fake.
#
# As of this writing Maven Central has com.github.nagyesta.lowkey-vault:lowkey-vault-client and
# lowkey-vault-testcontainers but not lowkey-vault-app (the app is published as a Docker image and
# to GitHub Packages), so this script usually ends with "not on Maven Central" and exit code 3.
# Versions 3.4.x and earlier run on Java 17; 4.x needs Java 21; 5.x and later Java 25.
set -euo pipefail

VERSION="${LOWKEY_VAULT_VERSION:-3.4.23}"
CACHE_DIR="${HOME}/.cache/chatbot-operator/lowkey-vault"
JAR="${CACHE_DIR}/lowkey-vault-app-${VERSION}.jar"
ARTIFACT="com.github.nagyesta.lowkey-vault:lowkey-vault-app:${VERSION}"

if [[ -f "${JAR}" ]]; then
  echo "${JAR}"
  exit 0
fi
command -v mvn >/dev/null || { echo "mvn is not installed (apt-get install maven)" >&2; exit 2; }
mkdir -p "${CACHE_DIR}"
if mvn -q -B -U dependency:copy -Dartifact="${ARTIFACT}:jar" -DoutputDirectory="${CACHE_DIR}" \
    -Dmdep.useBaseVersion=true >"${CACHE_DIR}/fetch.log" 2>&1; then
  echo "${JAR}"
else
  echo "${ARTIFACT} is not on Maven Central (see ${CACHE_DIR}/fetch.log);" \
       "the tests will use tests/support/keyvault_fake.py. To use lowkey-vault, put its jar at ${JAR}" \
       "or point LOWKEY_VAULT_JAR at it." >&2
  exit 3
fi
