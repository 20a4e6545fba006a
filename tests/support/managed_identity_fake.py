"""A local managed-identity token endpoint, so that DefaultAzureCredential works against local fakes.

It speaks the App Service managed identity protocol (what lowkey-vault also offers for tests):
azure-identity's ManagedIdentityCredential uses it when IDENTITY_ENDPOINT and IDENTITY_HEADER are
set, sending `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<resource>` with the header
`X-IDENTITY-HEADER: <IDENTITY_HEADER>`. A request without that header gets a 401, as on Azure, so
a process without the identity's environment gets no token. The operator under test keeps its
production credential (DefaultAzureCredential); only its environment points at this endpoint.
"""

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2019-08-01"


class FakeManagedIdentity:
    def __init__(self, token: str) -> None:
        self.token = token
        self.header_secret = secrets.token_urlsafe(16)
        self.resources: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/msi/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def environment(self) -> dict[str, str]:
        """What a pod with this identity would have in its environment."""
        return {"IDENTITY_ENDPOINT": self.endpoint, "IDENTITY_HEADER": self.header_secret}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(identity: FakeManagedIdentity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            target = urlsplit(self.path)
            query = parse_qs(target.query)
            if target.path != "/msi/token":
                self._send(404, {"error": "not_found"})
                return
            if self.headers.get("X-IDENTITY-HEADER") != identity.header_secret:
                self._send(401, {"error": "unauthorized", "error_description": "X-IDENTITY-HEADER"})
                return
            resource = query.get("resource", [""])[0]
            if query.get("api-version", [""])[0] != API_VERSION or not resource:
                self._send(400, {"error": "invalid_request", "error_description": "api-version, resource"})
                return
            identity.resources.append(resource)
            self._send(
                200,
                {
                    "access_token": identity.token,
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": resource,
                    "token_type": "Bearer",
                },
            )

    return Handler
