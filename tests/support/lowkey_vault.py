"""The Key Vault the integration tests talk to: lowkey-vault when its jar is at hand, else a local fake.

lowkey-vault (a Key Vault emulator, a Spring Boot jar) is preferred. Its app jar is looked for at
$LOWKEY_VAULT_JAR or ~/.cache/chatbot-operator/lowkey-vault/lowkey-vault-app-*.jar (see
hack/fetch-lowkey-vault.sh). As of this writing the app jar is not published on Maven Central
(only lowkey-vault-client and -testcontainers are; the app ships as a Docker image and on GitHub
Packages), so on a registry-only machine the tests use tests/support/keyvault_fake.py instead:
the same TLS, challenge-auth and secrets REST surface, plus token checks lowkey-vault skips.

Both expose: `vault_url`, `set_secret(name, value) -> uri`, `credential()`, `keyvault_options()`
(api_version pinned, this vault's TLS trusted, challenge resource check off), `stop()`, `kind`.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from chatbot_operator.appconfig import KeyVaultOptions
from tests.support.keyvault_fake import PINNED_API_VERSION, FakeKeyVault, StaticTokenCredential
from tests.support.selfsigned import CertificateFiles

CACHE_DIR = Path.home() / ".cache" / "chatbot-operator" / "lowkey-vault"
START_TIMEOUT = 90.0


class KeyVaultUnderTest(Protocol):
    kind: str
    vault_url: str

    def set_secret(self, name: str, value: str) -> str: ...
    def credential(self) -> Any: ...
    def keyvault_options(self) -> KeyVaultOptions: ...
    def stop(self) -> None: ...


def find_lowkey_vault_jar() -> Path | None:
    explicit = os.environ.get("LOWKEY_VAULT_JAR")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    jars = sorted(CACHE_DIR.glob("lowkey-vault-app-*.jar"))
    return jars[-1] if jars else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LowkeyVault:
    """lowkey-vault run from its jar; vault https://127.0.0.1:<port> with its self-signed cert."""

    kind = "lowkey-vault"

    def __init__(self, jar: Path, java: str) -> None:
        port = _free_port()
        self.vault_url = f"https://127.0.0.1:{port}"
        self._log = open(CACHE_DIR / "lowkey-vault.log", "w")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [java, "-jar", str(jar), f"--server.port={port}", "--LOWKEY_VAULT_NAMES=-"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"lowkey-vault exited with {self._process.returncode}; see {self._log.name}"
                )
            try:
                urllib.request.urlopen(f"{self.vault_url}/ping", context=insecure, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"lowkey-vault did not answer within {START_TIMEOUT:.0f}s") from None
                time.sleep(0.5)
        from azure.keyvault.secrets import SecretClient

        self._client = SecretClient(
            self.vault_url,
            self.credential(),
            api_version=PINNED_API_VERSION,
            verify_challenge_resource=False,
            connection_verify=False,
        )

    def credential(self) -> StaticTokenCredential:
        return StaticTokenCredential("lowkey-vault-accepts-any-token")

    def keyvault_options(self) -> KeyVaultOptions:
        return KeyVaultOptions(
            credential=self.credential(),
            api_version=PINNED_API_VERSION,
            connection_verify=False,  # lowkey-vault's own self-signed certificate; tests only
            verify_challenge_resource=False,
        )

    def set_secret(self, name: str, value: str) -> str:
        self._client.set_secret(name, value)
        return f"{self.vault_url}/secrets/{name}"

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()


class FakeVault(FakeKeyVault):
    kind = "keyvault-fake"

    def keyvault_options(self) -> KeyVaultOptions:
        return KeyVaultOptions(
            credential=self.credential(),
            api_version=PINNED_API_VERSION,
            connection_verify=str(self.certificates.ca_file),  # verification stays on: we trust our CA
            verify_challenge_resource=False,
        )


def start_key_vault(certificates: CertificateFiles) -> KeyVaultUnderTest:
    jar, java = find_lowkey_vault_jar(), shutil.which("java")
    if jar is not None and java is not None:
        return LowkeyVault(jar, java)
    return FakeVault(certificates)
