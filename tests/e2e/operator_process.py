"""The chart, installed with helm, and the operator process run locally with its ServiceAccount.

On the local control plane nothing runs in pods (kwok only marks them Ready), so the operator
runs here, as `python -m chatbot_operator`, with exactly the environment the chart's Deployment
gives its container and with the credentials of the chart's ServiceAccount: a token from the
TokenRequest API in a kubeconfig of its own. Whatever the operator manages to do, the chart's
RBAC allows.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.cluster import CHART_DIR, REPO_ROOT, Cluster, failed_test, free_port, wait_until

CHART_NAME = "chatbot-operator"
TOKEN_DURATION = "2h"
# How the API server words an RBAC refusal: `User "..." cannot list resource "x" in API group ...`.
RBAC_DENIAL = re.compile(r'cannot [a-z]+ resource \\?"[a-z./-]+\\?"')
STARTUP_TIMEOUT = 60.0


@dataclass
class Release:
    """A helm release of the chart."""

    cluster: Cluster
    name: str
    namespace: str

    @property
    def fullname(self) -> str:
        return self.name if CHART_NAME in self.name else f"{self.name}-{CHART_NAME}"

    def install(self, *helm_args: str, upgrade: bool = False) -> None:
        extra = os.environ.get("E2E_HELM_ARGS", "").split()
        verb = ("upgrade",) if upgrade else ("install",)
        self.cluster.helm(
            *verb,
            self.name,
            str(CHART_DIR),
            "-n",
            self.namespace,
            "--wait",
            "--timeout",
            "180s",
            *extra,
            *helm_args,
            timeout=240,
        )

    def uninstall(self) -> None:
        self.cluster.helm(
            "uninstall", self.name, "-n", self.namespace, "--wait", "--timeout", "120s", timeout=180
        )

    def deployment(self) -> dict[str, object]:
        result: dict[str, object] = self.cluster.get("deployment", self.fullname, "-n", self.namespace)
        return result

    def container_env(self) -> dict[str, str]:
        """The operator container's environment as the chart renders it (plain values only)."""
        spec = self.cluster.get("deployment", self.fullname, "-n", self.namespace)["spec"]["template"]["spec"]
        (container,) = [c for c in spec["containers"] if c["name"] == "operator"]
        return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}

    def service_account_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig with a TokenRequest token of the chart's ServiceAccount, and nothing else."""
        token = self.cluster.kubectl(
            "create", "token", self.fullname, "-n", self.namespace, f"--duration={TOKEN_DURATION}"
        ).stdout.strip()
        return self.cluster.write_token_kubeconfig(path, token, self.namespace)


@dataclass
class LocalOperator:
    """`python -m chatbot_operator` in a subprocess, stopped by stop()."""

    release: Release
    workdir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    liveness_port: int = 0
    metrics_port: int = 0
    _log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "operator.log"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "operator.kubeconfig"

    def start(self) -> None:
        self.release.service_account_kubeconfig(self.kubeconfig)
        self.liveness_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATBOT_OPERATOR_", "KUBERNETES_"))}
        env.update(self.release.container_env())
        env.update(self.env_overrides)
        env["CHATBOT_OPERATOR_LIVENESS_PORT"] = str(self.liveness_port)
        env["CHATBOT_OPERATOR_LIVENESS_HOST"] = "127.0.0.1"  # a local process, not a pod: loopback only
        if "CHATBOT_OPERATOR_METRICS_PORT" in env:
            # The chart's port is for the pod; here it must not collide with anything on the machine.
            self.metrics_port = free_port()
            env["CHATBOT_OPERATOR_METRICS_PORT"] = str(self.metrics_port)
        env["KUBECONFIG"] = str(self.kubeconfig)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chatbot_operator"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(f"the operator's /healthz (log: {self.log_path})", self._healthy, timeout=STARTUP_TIMEOUT)

    def assert_running(self) -> None:
        """Fails fast, with the log, when the operator has exited (instead of every wait timing out)."""
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise AssertionError(f"the operator is not running (exit code {code}):\n{self.log_tail()}")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the operator exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of the log, without Kopf's routine "Handler ... succeeded" ones, which
        would crowd out the warnings and errors that explain a failure."""
        if not self.log_path.exists():
            return "(no operator log)"
        kept = [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if not ("Handler '" in line and "' succeeded." in line)
        ]
        return "\n".join(kept[-lines:])

    def log_offset(self) -> int:
        """The current end of the log, to look only at what comes after it."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def rbac_denials(self, since: int = 0) -> list[str]:
        """Log lines (after byte `since`) where RBAC refused the operator something: the chart's
        rules are narrower than the operator needs. Other 403s (e.g. creating an Event in a
        namespace being deleted) are not about RBAC and are left out."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        return [line for line in text.splitlines() if RBAC_DENIAL.search(line)]


@contextlib.contextmanager
def running_operator(
    release: Release, workdir: Path, env_overrides: Mapping[str, str] | None = None, *, start: bool = True
) -> Iterator[LocalOperator]:
    """A LocalOperator for `release` with `env_overrides` on top of the chart's environment,
    started unless `start` is false, and stopped at the end."""
    process = LocalOperator(release=release, workdir=workdir, env_overrides=dict(env_overrides or {}))
    try:
        if start:
            process.start()
        yield process
    finally:
        process.stop()


def print_operator_log_on_failure(request: pytest.FixtureRequest, operator: LocalOperator) -> None:
    if failed_test(request):
        print(f"===== operator log ({operator.log_path}) =====\n{operator.log_tail()}", file=sys.stderr)
