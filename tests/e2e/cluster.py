"""The end-to-end tier's view of a cluster: the real kubectl and helm, run as a user would.

The local control plane is started by hack/cluster.sh (tests/e2e/conftest.py); with
E2E_KUBECONFIG set, the same tests run against any existing cluster.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK_DIR = REPO_ROOT / "hack"
CHART_DIR = REPO_ROOT / "chart"
CRD_FILE = REPO_ROOT / "crds" / "chatbot-operator.io_chatbots.yaml"
EXAMPLE_FILE = REPO_ROOT / "examples" / "chatbot.yaml"

CRD_NAME = "chatbots.chatbot-operator.io"
RESTRICTED_LABELS = (
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
)

# Every wait is bounded; the local control plane answers in well under these.
COMMAND_TIMEOUT = 120.0
WAIT_TIMEOUT = 90.0

T = TypeVar("T")


class CommandError(AssertionError):
    """A kubectl or helm command failed; carries what it printed."""

    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(
            f"`{' '.join(args)}` exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )


@dataclass
class Cluster:
    """A reachable cluster and the binaries to drive it."""

    kubeconfig: Path
    bin_dir: Path
    # Set when the tests started this cluster (and so can print its component logs).
    cluster_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where the output of every command goes too, for the end-of-suite secret scan (secret_scan.py).
    transcript: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        # helm keeps its caches and repository config per user; keep them out of $HOME.
        env.setdefault("HELM_CACHE_HOME", str(self.kubeconfig.parent / "helm-cache"))
        env.setdefault("HELM_CONFIG_HOME", str(self.kubeconfig.parent / "helm-config"))
        env.setdefault("HELM_DATA_HOME", str(self.kubeconfig.parent / "helm-data"))
        env.update(self.extra_env)
        return env

    def run(
        self,
        tool: str,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / tool), *args]
        env = self.env
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if self.transcript is not None:
            # The output only: arguments may carry secrets on purpose (--from-literal).
            with self.transcript.open("a") as transcript:
                transcript.write(f"$ {tool} {args[0] if args else ''} ...\n{result.stdout}{result.stderr}\n")
        if check and result.returncode != 0:
            raise CommandError([tool, *args], result)
        return result

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, **kwargs)

    def helm(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, **kwargs)

    def get(self, *args: str, **kwargs: Any) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json", **kwargs).stdout)

    def try_get(self, *args: str) -> Any | None:
        """Like get(), but None when the object does not exist."""
        result = self.kubectl("get", *args, "-o", "json", "--ignore-not-found", check=False)
        if result.returncode != 0:
            raise CommandError(["kubectl", "get", *args], result)
        return json.loads(result.stdout) if result.stdout.strip() else None

    def apply(self, manifest: Mapping[str, Any] | str, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(dict(manifest))
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input=text)

    def server_and_ca(self) -> tuple[str, str]:
        """The API server URL and its CA (base64 PEM) from the admin kubeconfig."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        ca = cluster.get("certificate-authority-data")
        if ca is None and "certificate-authority" in cluster:
            ca = base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
        return cluster["server"], ca or ""

    def write_token_kubeconfig(self, path: Path, token: str, namespace: str) -> Path:
        """A kubeconfig of its own for a ServiceAccount token (no admin credentials in it)."""
        server, ca = self.server_and_ca()
        cluster: dict[str, Any] = {"server": server}
        if ca:
            cluster["certificate-authority-data"] = ca
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": cluster}],
            "users": [{"name": "sa", "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "e2e", "user": "sa", "namespace": namespace}}],
            "current-context": "sa",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def component_logs(self, lines: int = 40) -> str:
        """The last lines of every control-plane component's log (local cluster only)."""
        if self.cluster_dir is None:
            return "(an existing cluster: no component logs)"
        result = subprocess.run(
            [str(HACK_DIR / "cluster.sh"), "logs"],
            capture_output=True,
            text=True,
            env={**os.environ, "CLUSTER_DIR": str(self.cluster_dir), "LOG_LINES": str(lines)},
            timeout=30,
            check=False,
        )
        return result.stdout + result.stderr


def build_tools(*only: str) -> Path:
    """The bin dir of kubectl, helm and the control plane (built or reused); with `only=("helm",)`,
    of helm alone, which builds in minutes where the control plane takes tens."""
    if override := os.environ.get("E2E_BIN_DIR"):
        return Path(override)
    result = subprocess.run(
        [str(HACK_DIR / "build-tools.sh"), *only], capture_output=True, text=True, timeout=3600, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"hack/build-tools.sh failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = WAIT_TIMEOUT,
    interval: float = 0.5,
) -> T:
    """Calls probe until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def unique_name(prefix: str) -> str:
    """A DNS-label name unique to this run."""
    return f"{prefix}-{secrets.token_hex(3)}"[:63]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of the given type, if present."""
    for item in obj.get("status", {}).get("conditions", []) or []:
        if item.get("type") == kind:
            return dict(item)
    return None


@dataclass(frozen=True)
class CorpusRepo:
    """The documentation corpus the example ChatBot points to, on a git server on loopback."""

    url: str
    commit: str


def failed_test(request: pytest.FixtureRequest) -> bool:
    """Whether the test that requested a fixture failed (set by conftest's report hook)."""
    node = request.node
    return any(
        getattr(node, f"report_{phase}", None) and getattr(node, f"report_{phase}").failed
        for phase in ("setup", "call")
    )
