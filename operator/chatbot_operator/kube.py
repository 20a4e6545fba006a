"""A thin Kubernetes API layer over the official client: raw JSON in and out, server-side apply.

Raw dicts (not the client's generated models) because builders, drift checks and status are all
plain-dict code, and because it skips a costly model round-trip for every object.
"""

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import quote

from kubernetes import client, config
from urllib3.util.retry import Retry

from chatbot_operator.api import FIELD_MANAGER, GROUP, PLURAL, VERSION
from chatbot_operator.metrics import API_WRITES

APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"
# A brief API server hiccup (5xx, throttling) is retried on the spot, so callers outside Kopf's
# handler retries (watch events, the refresh loop) do not lose the write. Every verb we retry is
# idempotent: server-side apply, GETs, and status patches with a resourceVersion precondition
# (repeating one that went through gets 409). POST (Events) is not retried: it would duplicate.
TRANSIENT_ERROR_RETRIES: Final = Retry(
    total=4,
    connect=4,
    read=0,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET", "PATCH", "PUT", "DELETE"}),
    backoff_factor=0.2,
    respect_retry_after_header=True,
    # After the last try, the error response itself reaches KubeError (and Kopf's TemporaryError).
    raise_on_status=False,
)
MERGE_CONTENT_TYPE: Final = "application/merge-patch+json"


@dataclass(frozen=True)
class ResourcePath:
    """Where a kind lives in the API."""

    group_version: str  # "v1" for the core group, "apps/v1" otherwise
    plural: str

    def collection(self, namespace: str) -> str:
        prefix = "/api" if "/" not in self.group_version else "/apis"
        return f"{prefix}/{self.group_version}/namespaces/{quote(namespace)}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{quote(name)}"


DEPLOYMENTS: Final = ResourcePath("apps/v1", "deployments")
SERVICES: Final = ResourcePath("v1", "services")
CONFIG_MAPS: Final = ResourcePath("v1", "configmaps")
SECRETS: Final = ResourcePath("v1", "secrets")
PODS: Final = ResourcePath("v1", "pods")
CHATBOTS: Final = ResourcePath(f"{GROUP}/{VERSION}", PLURAL)
EVENTS: Final = ResourcePath("v1", "events")
NETWORK_POLICIES: Final = ResourcePath("networking.k8s.io/v1", "networkpolicies")

PATHS_BY_KIND: Final = {
    ("apps/v1", "Deployment"): DEPLOYMENTS,
    ("v1", "Service"): SERVICES,
    ("v1", "ConfigMap"): CONFIG_MAPS,
    ("v1", "Secret"): SECRETS,
    ("networking.k8s.io/v1", "NetworkPolicy"): NETWORK_POLICIES,
}


class KubeError(Exception):
    """A failed API call, with the HTTP status and the API server's own message."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def retryable(self) -> bool:
        """Conflicts, throttling and server errors are worth another try; bad requests are not."""
        return self.status in (409, 429) or self.status >= 500


class Kube(Protocol):
    """What the reconcile path needs of the API: KubeClient, or an in-memory fake in tests."""

    def get(self, path: ResourcePath, namespace: str, name: str) -> dict[str, Any] | None: ...

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...

    def patch_status(
        self,
        path: ResourcePath,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> None: ...


class KubeClient:
    def __init__(self, api_client: client.ApiClient, *, timeout: float = 30.0) -> None:
        self._api = api_client
        self._timeout = timeout

    @classmethod
    def from_environment(cls, *, pool_size: int = 10) -> "KubeClient":
        """In-cluster credentials, else $KUBECONFIG / ~/.kube/config.

        `pool_size`: connections kept open, one per thread that calls at once. Fewer than the
        callers, urllib3 opens a new TLS connection for each extra call and drops it after
        ("Connection pool is full"): a handshake and a new TLS context per request under load.
        """
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = pool_size
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)
        configuration.retries = TRANSIENT_ERROR_RETRIES
        return cls(client.ApiClient(configuration))

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        method, url, headers, body, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        if method != "GET":
            API_WRITES.labels(verb=method).inc()
        response = self._api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=self._timeout
        )
        data = response.read()
        if response.status >= 400:
            raise _build_error(response.status, data)
        return json.loads(data) if data else {}

    def get(self, path: ResourcePath, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._request("GET", path.item(namespace, name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def list(self, path: ResourcePath, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        result = self._request("GET", path.collection(namespace), query={"labelSelector": label_selector})
        items: list[dict[str, Any]] = result.get("items", [])
        return items

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply under our field manager: fields other managers own are left alone."""
        path = PATHS_BY_KIND[(manifest["apiVersion"], manifest["kind"])]
        metadata = manifest["metadata"]
        return self._request(
            "PATCH",
            path.item(metadata["namespace"], metadata["name"]),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            # An apply body is parsed as YAML, which refuses the surrogate-pair escapes that JSON
            # uses for characters beyond U+FFFF (an emoji in a prompt): send them as UTF-8 instead.
            body=json.dumps(manifest, ensure_ascii=False).encode(),
            content_type=APPLY_CONTENT_TYPE,
        )

    def post_event(self, involved: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        event = build_event(involved, event_type, reason, message, datetime.now(UTC))
        self._request("POST", EVENTS.collection(event["metadata"]["namespace"]), body=event)

    def patch_status(
        self,
        path: ResourcePath,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> None:
        """Merge-patch the status; with a resourceVersion, only if nobody wrote since (else 409)."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        self._request(
            "PATCH",
            path.item(namespace, name) + "/status",
            query={"fieldManager": FIELD_MANAGER},
            body=body,
            content_type=MERGE_CONTENT_TYPE,
        )


def build_event(
    involved: Mapping[str, Any], event_type: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `involved`, as `kubectl describe` and `kubectl get events` show it."""
    metadata = involved["metadata"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", f"{GROUP}/{VERSION}"),
            "kind": involved.get("kind", "ChatBot"),
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid", ""),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def _build_error(status: int, data: bytes) -> KubeError:
    try:
        payload = json.loads(data)
        return KubeError(status, str(payload.get("message", "")), str(payload.get("reason", "")))
    except ValueError:
        return KubeError(status, data.decode(errors="replace")[:500])
