"""An in-memory stand-in for the Kubernetes API (chatbot_operator.kube.Kube), for reconciles in unit tests.

Objects live in a dict keyed by (plural, namespace, name); applies and status patches are recorded
in order, so a test can say what was written and in which order.
"""

from collections.abc import Mapping
from typing import Any

from chatbot_operator.kube import PATHS_BY_KIND, Kube, ResourcePath


class MemoryKube(Kube):
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.applied: list[str] = []  # kinds, in the order they were applied
        self.status_patches: list[dict[str, Any]] = []

    def get(self, path: ResourcePath, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((path.plural, namespace, name))

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        path = PATHS_BY_KIND[(manifest["apiVersion"], manifest["kind"])]
        metadata = manifest["metadata"]
        self.applied.append(manifest["kind"])
        self.objects[(path.plural, metadata["namespace"], metadata["name"])] = dict(manifest)
        return dict(manifest)

    def patch_status(
        self,
        path: ResourcePath,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> None:
        self.status_patches.append(dict(status))
