"""kmock's Kubernetes emulator, taught the few API server behaviours the operator relies on.

kmock stores objects and merges patches; a real API server also creates an object on a
server-side apply, stamps uid/creationTimestamp/resourceVersion, and bumps metadata.generation
when a spec changes. Only those are added here, plus outages a test switches on: 503 answers to
the requests it names, as a busy or restarting API server gives.
"""

import datetime
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import rendering
from kmock._internal.k8s import KubernetesObjectConflictError

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
_versions = itertools.count(1)


@dataclass
class Outage:
    """The next `times` requests of `method` whose path contains `path` are answered 503."""

    method: str
    path: str
    times: int
    answered: int = 0

    def takes(self, request: rendering.Request) -> bool:
        if self.answered >= self.times or request.method != self.method:
            return False
        if self.path not in request.url.path:
            return False
        self.answered += 1
        return True


@dataclass
class Outages:
    planned: list[Outage] = field(default_factory=list)

    def add(self, method: str, path: str, times: int) -> Outage:
        outage = Outage(method, path, times)
        self.planned.append(outage)
        return outage

    def response(self, request: rendering.Request) -> aiohttp.web.Response | None:
        if not any(outage.takes(request) for outage in self.planned):
            return None
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                  "reason": "ServiceUnavailable", "message": "the test's planned outage"}  # fmt: skip
        return aiohttp.web.json_response(status, status=503)


class ApiServerEmulator(kmock.KubernetesEmulator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outages = Outages()

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        planned = self.outages.response(request)
        if planned is not None:
            return planned
        if request.resource is not None and request.name is not None and request.method == kmock.method.PATCH:
            key = (request.resource, request.namespace, request.name)
            # kmock's ObjectsArray has no .get().
            existing = self.objects[key] if key in self.objects else None  # noqa: SIM401
            missing = existing is None or existing.deleted
            content_type = request.headers.get("Content-Type", "")
            if missing and content_type.startswith(APPLY_CONTENT_TYPE) and not request.subresource:
                async with self._lock:
                    created = _stamp_new(json.loads(request.body))
                    self.objects[key] = created
                    await self._buses[request.resource].put({"type": "ADDED", "object": created})
            elif not missing and existing is not None:
                self._check_precondition(existing, request)
                self._bump(existing, request)
        elif request.action == kmock.action.CREATE and isinstance(request.data, dict):
            _stamp_new(request.data)
        return await super()._handle(request)

    @staticmethod
    def _check_precondition(existing: Any, request: rendering.Request) -> None:
        """A patch that names a resourceVersion applies only to that version, as the API server does."""
        changes = request.data if isinstance(request.data, dict) else {}
        wanted = (changes.get("metadata") or {}).pop("resourceVersion", None)
        current = existing.get("metadata", {}).get("resourceVersion")
        if wanted is not None and wanted != current:
            raise KubernetesObjectConflictError()

    @staticmethod
    def _bump(existing: Any, request: rendering.Request) -> None:
        changes = request.data if isinstance(request.data, dict) else {}
        metadata = existing.get("metadata", {})
        bump: dict[str, Any] = {"resourceVersion": str(next(_versions))}
        if not request.subresource and "spec" in changes and changes["spec"] != existing.get("spec"):
            bump["generation"] = int(metadata.get("generation", 1)) + 1
        existing.patch({"metadata": bump})


def _stamp_new(body: dict[str, Any]) -> dict[str, Any]:
    metadata = body.setdefault("metadata", {})
    if "name" not in metadata and "generateName" in metadata:
        metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
    metadata.setdefault("uid", str(uuid.uuid4()))
    metadata.setdefault("generation", 1)
    metadata.setdefault("resourceVersion", str(next(_versions)))
    metadata.setdefault(
        "creationTimestamp", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return body
