"""A local Key Vault (secrets data plane) over TLS, for when lowkey-vault cannot be had.

It behaves as the service does where the SDK can tell: HTTPS only; the first unauthenticated
request gets a 401 with a `WWW-Authenticate: Bearer authorization=..., resource=...` challenge
(azure-keyvault's ChallengeAuthPolicy depends on it); bearer tokens are checked (unknown token:
401, a known identity without access: 403 Forbidden); `api-version` is required and must be one
it knows (like lowkey-vault, it knows fewer versions than the SDK's default, so clients pin one);
`GET /secrets/<name>[/<version>]` returns the secret bundle or 404 SecretNotFound.
"""

import datetime
import json
import secrets
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from azure.core.credentials import AccessToken

from tests.support.selfsigned import CertificateFiles

SUPPORTED_API_VERSIONS = ("7.0", "7.1", "7.2", "7.3", "7.4", "7.5")
PINNED_API_VERSION = "7.5"
TENANT = "00000000-0000-0000-0000-000000000000"


class StaticTokenCredential:
    """A TokenCredential that always returns one token (what workload identity would get)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        expires = int(datetime.datetime.now(datetime.UTC).timestamp()) + 3600
        return AccessToken(self.token, expires)


@dataclass
class _Version:
    version: str
    value: str
    created: int


class FakeKeyVault:
    def __init__(self, certificates: CertificateFiles) -> None:
        self.token = "kv-" + secrets.token_urlsafe(16)
        self.denied_token = "kv-denied-" + secrets.token_urlsafe(8)
        self.certificates = certificates
        self.requests: list[tuple[str, int]] = []
        self._secrets: dict[str, list[_Version]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._server.socket = certificates.server_context().wrap_socket(self._server.socket, server_side=True)
        self.vault_url = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def credential(self) -> StaticTokenCredential:
        return StaticTokenCredential(self.token)

    def set_secret(self, name: str, value: str) -> str:
        """Add a new version; returns the secret's URI without version (what references use)."""
        with self._lock:
            now = int(datetime.datetime.now(datetime.UTC).timestamp())
            self._secrets.setdefault(name, []).append(_Version(uuid.uuid4().hex, value, now))
        return f"{self.vault_url}/secrets/{name}"

    def values(self) -> list[str]:
        """Every secret value ever set: what must never show up outside the bot's Secret."""
        with self._lock:
            return [version.value for versions in self._secrets.values() for version in versions]

    def delete_secret(self, name: str) -> None:
        with self._lock:
            self._secrets.pop(name, None)

    def lookup(self, name: str, version: str | None) -> _Version | None:
        with self._lock:
            versions = self._secrets.get(name, [])
            if version:
                return next((v for v in versions if v.version == version), None)
            return versions[-1] if versions else None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(vault: FakeKeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            vault.requests.append((self.path, status))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"code": code, "message": message}}, headers)

        def do_GET(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = urlsplit(self.path)
            api_version = parse_qs(target.query).get("api-version", [None])[0]
            authorization = self.headers.get("Authorization", "")
            if not authorization.startswith("Bearer "):
                challenge = (
                    f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                    'resource="https://vault.azure.net"'
                )
                self._error(
                    401,
                    "Unauthorized",
                    "AKV10000: Request is missing a Bearer token.",
                    {"WWW-Authenticate": challenge},
                )
                return
            token = authorization[len("Bearer ") :]
            if token == vault.denied_token:
                self._error(403, "Forbidden", "Caller is not authorized to perform action on resource.")
                return
            if token != vault.token:
                self._error(401, "Unauthorized", "AKV10032: Invalid issuer.")
                return
            if api_version not in SUPPORTED_API_VERSIONS:
                self._error(400, "BadParameter", "The specified version is not supported.")
                return
            parts = [unquote(p) for p in target.path.strip("/").split("/")]
            if len(parts) not in (2, 3) or parts[0] != "secrets":
                self._error(404, "NotFound", "Unknown path.")
                return
            name, version = parts[1], (parts[2] if len(parts) == 3 else None)
            found = vault.lookup(name, version)
            if found is None:
                self._error(
                    404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
                )
                return
            self._send(
                200,
                {
                    "value": found.value,
                    "id": f"{vault.vault_url}/secrets/{name}/{found.version}",
                    "attributes": {
                        "enabled": True,
                        "created": found.created,
                        "updated": found.created,
                        "recoveryLevel": "Recoverable+Purgeable",
                    },
                    "tags": {},
                },
            )

    return Handler
