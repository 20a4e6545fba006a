"""A local fake of the Azure App Configuration data plane, strict about authentication.

What it does as the service does:
- HMAC-SHA256 request signing (connection strings): `Authorization: HMAC-SHA256 Credential=<id>&
  SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>`, the signature being
  HMAC-SHA256 (keyed by the base64-decoded secret) of "<METHOD>\\n<request target as received>\\n"
  followed by the signed headers' values joined by ";" (host: the Host header). The date must be
  within 15 minutes, the content hash must be the body's, the credential id must be known; any
  failure is a 401 with a `WWW-Authenticate` header, as Azure answers.
- Optionally Entra ID bearer tokens (the endpoint + credential form; needs TLS in the SDK).
- `GET /kv` with key filters (exact, trailing `*` prefix, `,` OR, `\\` escapes), label filters (the
  same, `%00` = no label, absent = any), `after` paging with `@nextLink` and a `Link` header, an
  ETag per page and `If-None-Match` → 304 (with the `Link` header, so the client can go on).
- `GET /kv/<key>?label=` with an ETag and `If-None-Match` → 304; 404 when absent (sentinel keys).
- Key Vault references: content type `application/vnd.microsoft.appconfig.keyvaultref+json;
  charset=utf-8`, value `{"uri": "..."}`.
Faults for tests: `outage` drops every connection without an answer; `status_override` answers
every request with that status.
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.support.selfsigned import CertificateFiles

KEY_VAULT_REF_CONTENT_TYPE = "application/vnd.microsoft.appconfig.keyvaultref+json;charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
NO_LABEL = "\0"


@dataclass
class KeyValue:
    key: str
    label: str | None
    value: str
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    last_modified: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "etag": self.etag,
            "key": self.key,
            "label": self.label,
            "content_type": self.content_type,
            "value": self.value,
            "tags": self.tags,
            "locked": False,
            "last_modified": self.last_modified,
        }


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str
    status: int


def _split_filter(expression: str) -> list[str]:
    """Split a filter on unescaped commas and unescape `\\,`, `\\*` and `\\\\` (kept marked)."""
    parts, current, escaped = [], "", False
    for char in expression:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _matches(value: str, alternative: str) -> bool:
    # A trailing unescaped '*' means "starts with"; escapes make '*' and ',' literal.
    prefix = alternative.endswith("*") and not alternative.endswith("\\*")
    pattern = alternative[:-1] if prefix else alternative
    literal = pattern.replace("\\*", "*").replace("\\,", ",").replace("\\\\", "\\")
    return value.startswith(literal) if prefix else value == literal


def _key_matches(key: str, key_filter: str | None) -> bool:
    if key_filter in (None, "", "*"):
        return True
    return any(_matches(key, alternative) for alternative in _split_filter(key_filter))


def _label_matches(label: str | None, label_filter: str | None) -> bool:
    if label_filter is None or label_filter == "*":
        return True
    for alternative in _split_filter(label_filter):
        if alternative == NO_LABEL:
            if label is None:
                return True
        elif label is not None and _matches(label, alternative):
            return True
    return False


class FakeAppConfiguration:
    """The store, its credentials, and an HTTP(S) server on 127.0.0.1 serving it."""

    def __init__(
        self,
        *,
        page_size: int = 100,
        certificates: CertificateFiles | None = None,
        bearer_token: str | None = None,
    ) -> None:
        self.credential_id = "fake-" + secrets.token_hex(4)
        self.secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.page_size = page_size
        self.bearer_token = bearer_token
        self.outage = False
        self.status_override: int | None = None
        self.requests: list[RecordedRequest] = []
        self._items: dict[tuple[str, str | None], KeyValue] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        scheme = "http"
        if certificates is not None:
            self._server.socket = certificates.server_context().wrap_socket(
                self._server.socket, server_side=True
            )
            scheme = "https"
        self.endpoint = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- the store ------------------------------------------------------------------------------
    def connection_string(self, *, secret: str | None = None, credential_id: str | None = None) -> str:
        credential_id = credential_id or self.credential_id
        return f"Endpoint={self.endpoint};Id={credential_id};Secret={secret or self.secret}"

    def set(self, key: str, value: str, *, label: str | None = None, content_type: str | None = None) -> None:
        with self._lock:
            self._items[(key, label)] = KeyValue(key, label, value, content_type)

    def set_keyvault_reference(self, key: str, secret_uri: str, *, label: str | None = None) -> None:
        self.set(key, json.dumps({"uri": secret_uri}), label=label, content_type=KEY_VAULT_REF_CONTENT_TYPE)

    def delete(self, key: str, *, label: str | None = None) -> None:
        with self._lock:
            self._items.pop((key, label), None)

    def select(self, key_filter: str | None, label_filter: str | None) -> list[KeyValue]:
        with self._lock:
            items = [kv for kv in self._items.values() if _key_matches(kv.key, key_filter)]
        items = [kv for kv in items if _label_matches(kv.label, label_filter)]
        return sorted(items, key=lambda kv: (kv.key, kv.label or ""))

    def get(self, key: str, label: str | None) -> KeyValue | None:
        with self._lock:
            return self._items.get((key, label))

    def clear_requests(self) -> None:
        self.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- authentication -------------------------------------------------------------------------
    def check_authorization(self, handler: BaseHTTPRequestHandler, body: bytes) -> str | None:
        """None if the request is authentic, else the error description of a 401."""
        authorization = handler.headers.get("Authorization", "")
        scheme, _, parameters = authorization.partition(" ")
        if scheme == "Bearer" and self.bearer_token is not None:
            return None if hmac.compare_digest(parameters, self.bearer_token) else "Invalid token"
        if scheme != "HMAC-SHA256":
            return "Authorization header is missing or not HMAC-SHA256"
        fields: dict[str, str] = {}
        for part in parameters.split("&"):
            name, sep, value = part.partition("=")
            if not sep:
                return "Malformed Authorization header"
            fields[name] = value
        if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
            return "Authorization needs Credential, SignedHeaders and Signature"
        if fields["Credential"] != self.credential_id:
            return "Invalid Credential"
        signed = fields["SignedHeaders"].lower().split(";")
        if (
            "host" not in signed
            or "x-ms-content-sha256" not in signed
            or not {"x-ms-date", "date"} & set(signed)
        ):
            return "SignedHeaders must include host, x-ms-content-sha256 and x-ms-date"
        date_header = handler.headers.get("x-ms-date") or handler.headers.get("Date")
        when = _parse_date(date_header or "")
        if when is None:
            return "Invalid x-ms-date"
        if abs(datetime.datetime.now(datetime.UTC) - when) > MAX_CLOCK_SKEW:
            return "The access token has expired"
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if handler.headers.get("x-ms-content-sha256") != content_hash:
            return "Invalid x-ms-content-sha256"
        values = []
        for name in signed:
            value = handler.headers.get(name)
            if value is None:
                return f"Signed header {name} is missing"
            values.append(value)
        string_to_sign = f"{handler.command}\n{handler.path}\n{';'.join(values)}"
        expected = base64.b64encode(
            hmac.new(base64.b64decode(self.secret), string_to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected, fields["Signature"]):
            return "Invalid Signature"
        return None

    @contextmanager
    def faulted(self, *, outage: bool = False, status: int | None = None) -> Iterator[None]:
        self.outage, self.status_override = outage, status
        try:
            yield
        finally:
            self.outage, self.status_override = False, None


def _parse_date(value: str) -> datetime.datetime | None:
    """RFC 1123 dates, and the form azure-appconfiguration sends: "Nov, 22 2026 00:04:48.256353 GMT"."""
    try:
        return datetime.datetime.strptime(value, "%b, %d %Y %H:%M:%S.%f GMT").replace(tzinfo=datetime.UTC)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _page_etag(items: list[KeyValue], next_link: str | None) -> str:
    digest = hashlib.sha256(json.dumps([[kv.key, kv.label, kv.etag] for kv in items] + [next_link]).encode())
    return '"' + digest.hexdigest()[:32] + '"'


def _make_handler(store: FakeAppConfiguration) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _send(
            self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
        ) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            # Recorded before answering, so a test that got the answer sees the record.
            store.requests.append(RecordedRequest(self.command, self.path, status))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None and "Content-Type" not in (headers or {}):
                self.send_header("Content-Type", "application/problem+json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if store.outage:
                self.close_connection = True
                self.connection.close()
                return
            if store.status_override is not None:
                self._send(
                    store.status_override, {"title": "injected fault", "status": store.status_override}
                )
                return
            problem = store.check_authorization(self, body)
            if problem is not None:
                self._send(
                    401,
                    {
                        "type": "https://azconfig.io/errors/unauthorized",
                        "title": "Unauthorized",
                        "status": 401,
                    },
                    {"WWW-Authenticate": f'HMAC-SHA256 error="invalid_token", error_description="{problem}"'},
                )
                return
            target = urlsplit(self.path)
            query = parse_qs(target.query, keep_blank_values=True)
            if "api-version" not in query:
                self._send(400, {"title": "The 'api-version' parameter is required", "status": 400})
                return
            if target.path == "/kv":
                self._list(target.path, query)
            elif target.path.startswith("/kv/"):
                self._get_one(unquote(target.path[len("/kv/") :]), query)
            else:
                self._send(404, {"title": "Not Found", "status": 404})

        def _list(self, path: str, query: dict[str, list[str]]) -> None:
            key_filter = query.get("key", [None])[0]
            label_filter = query.get("label", [None])[0]
            items = store.select(key_filter, label_filter)
            start = int(query.get("after", ["0"])[0] or 0)
            page = items[start : start + store.page_size]
            next_link = None
            if start + store.page_size < len(items):
                params = {k: v[0] for k, v in query.items() if k != "after"}
                params["after"] = str(start + store.page_size)
                next_link = path + "?" + urlencode(sorted(params.items()), quote_via=quote)
            etag = _page_etag(page, next_link)
            headers = {"ETag": etag}
            if next_link:
                headers["Link"] = f'<{next_link}>; rel="next"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, None, headers)
                return
            headers["Content-Type"] = "application/vnd.microsoft.appconfig.kvset+json; charset=utf-8"
            document: dict[str, Any] = {"items": [kv.to_json() for kv in page]}
            if next_link:
                document["@nextLink"] = next_link
            self._send(200, document, headers)

        def _get_one(self, key: str, query: dict[str, list[str]]) -> None:
            label = query.get("label", [NO_LABEL])[0]
            item = store.get(key, None if label in (NO_LABEL, "") else label)
            if item is None:
                self._send(
                    404,
                    {"type": "https://azconfig.io/errors/key-not-found", "title": "Not Found", "status": 404},
                )
                return
            etag = '"' + item.etag + '"'
            if self.headers.get("If-None-Match") in (etag, item.etag):
                self._send(304, None, {"ETag": etag})
                return
            headers = {
                "ETag": etag,
                "Content-Type": "application/vnd.microsoft.appconfig.kv+json; charset=utf-8",
            }
            self._send(200, item.to_json(), headers)

    return Handler


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
