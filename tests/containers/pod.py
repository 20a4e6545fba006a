"""Containers of a pod spec, run by `docker run` the way the kubelet would run them.

The container dicts come from the operator's builders or the chart, never from a copy: the command,
the environment, the securityContext and the volume mounts are translated into `docker run` flags.
A field this translation does not know fails the test, so the pod spec cannot drift from what is
tested. Two things differ from a pod, both because the private engine has no bridge network
(hack/engine.sh): containers share the host's network namespace, so ports the test must not collide
on are overridden by `env_overrides`; and emptyDir volumes are a tmpfs, or a host directory when the
test shares one between containers (the corpus), with the kubelet's permissions (world-writable).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_TIMEOUT = 120.0
# Marks every container of the tier, so a leftover of an interrupted run is easy to find and remove.
LABEL = "chatbot-operator.test=containers"


def docker(
    *args: str, timeout: float = DOCKER_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"`docker {' '.join(args)}` exited {result.returncode}:\n{result.stderr}")
    return result


def image_user(image: str) -> str:
    return docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()


# Pod-level fields the container's own securityContext overrides (the rest are pod-level only).
_SHARED_SECURITY_FIELDS = ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile")


def _security_flags(pod_context: Mapping[str, Any], context: Mapping[str, Any], image: str) -> list[str]:
    effective = {key: pod_context[key] for key in _SHARED_SECURITY_FIELDS if key in pod_context}
    effective.update(context)
    flags: list[str] = []
    for key, value in pod_context.items():
        if key in ("fsGroup", "supplementalGroups"):
            # The kubelet adds these groups to the container's processes.
            flags += [f"--group-add={group}" for group in (value if isinstance(value, list) else [value])]
        elif key not in _SHARED_SECURITY_FIELDS:
            raise AssertionError(f"pod securityContext.{key}={value!r} has no docker translation here")
    for key, value in effective.items():
        if key == "readOnlyRootFilesystem" and value is True:
            flags.append("--read-only")
        elif key == "allowPrivilegeEscalation" and value is False:
            flags += ["--security-opt", "no-new-privileges"]
        elif key == "capabilities" and set(value) <= {"drop"}:
            flags += [f"--cap-drop={capability}" for capability in value["drop"]]
        elif key == "seccompProfile" and value == {"type": "RuntimeDefault"}:
            pass  # docker's default seccomp profile is the runtime default
        elif key == "runAsNonRoot" and value is True:
            # The kubelet refuses a container whose user is not a numeric, non-zero uid.
            uid = str(effective.get("runAsUser", image_user(image).partition(":")[0]))
            if not uid.isdigit() or int(uid) == 0:
                raise AssertionError(f"{image} would run as {uid!r}: runAsNonRoot would refuse it")
        elif key not in ("runAsUser", "runAsGroup"):
            raise AssertionError(f"securityContext.{key}={value!r} has no docker translation here")
    if "runAsUser" in effective:
        group = f":{effective['runAsGroup']}" if "runAsGroup" in effective else ""
        flags += ["--user", f"{effective['runAsUser']}{group}"]
    return flags


@dataclass
class PodContainer:
    """One container of a pod spec, with the host directories for its volumes."""

    container: Mapping[str, Any]
    # The pod spec: its volumes and its securityContext apply to the container.
    pod: Mapping[str, Any]
    # Volume name -> host directory (configMap, secret, and emptyDirs shared between containers).
    host_dirs: Mapping[str, Path] = field(default_factory=dict)
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    # Host file -> path in the container, for what a pod gets outside its spec's volumes (the
    # ServiceAccount token the kubelet mounts).
    extra_mounts: Mapping[Path, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"chatbot-test-{secrets.token_hex(4)}")
    termination_log: Path | None = None

    @property
    def image(self) -> str:
        image: str = self.container["image"]
        return image

    def run_args(self, workdir: Path) -> list[str]:
        volumes = {volume["name"]: volume for volume in self.pod.get("volumes", [])}
        args = ["--name", self.name, "--label", LABEL, "--network", "host"]
        args += _security_flags(
            self.pod.get("securityContext", {}), self.container.get("securityContext", {}), self.image
        )
        for mount in self.container.get("volumeMounts", []):
            args += self._mount_flags(mount, volumes[mount["name"]])
        for source, target in self.extra_mounts.items():
            args += ["--mount", f"type=bind,source={source},target={target},readonly"]
        if path := self.container.get("terminationMessagePath"):
            # The kubelet mounts a file there, writable by the container's user, and reads it back.
            self.termination_log = workdir / f"{self.name}.termination-log"
            self.termination_log.touch(mode=0o666)
            self.termination_log.chmod(0o666)
            args += ["--mount", f"type=bind,source={self.termination_log},target={path}"]
        env = {}
        for variable in self.container.get("env", []):
            if "valueFrom" in variable:
                env[variable["name"]] = self._downward_value(variable)
                continue
            # The API server drops an empty value: an absent one is "".
            env[variable["name"]] = variable.get("value", "")
        env.update(self.env_overrides)
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        command = list(self.container.get("command", []))
        if command:
            args += ["--entrypoint", command[0]]
        return [*args, self.image, *command[1:], *self.container.get("args", [])]

    def _downward_value(self, variable: Mapping[str, Any]) -> str:
        """The downward API's pod name, which the container's name stands in for, and the CPU limit
        in whole cores, which is the host's CPUs (the container runs without a CPU limit, as on a
        node without one the kubelet gives its allocatable CPUs); nothing else."""
        source = variable["valueFrom"]
        if "resourceFieldRef" in source:
            assert source["resourceFieldRef"] == {"resource": "limits.cpu", "divisor": "1"}, variable
            assert "cpu" not in self.container.get("resources", {}).get("limits", {}), "no --cpus here"
            return str(os.cpu_count())
        field_path = source.get("fieldRef", {}).get("fieldPath")
        assert field_path == "metadata.name", f"env {variable['name']} is not a plain value: no translation"
        return self.name

    def _mount_flags(self, mount: Mapping[str, Any], volume: Mapping[str, Any]) -> list[str]:
        target = mount["mountPath"]
        read_only = ",readonly" if mount.get("readOnly") else ""
        if volume["name"] in self.host_dirs:
            source = self.host_dirs[volume["name"]]
            return ["--mount", f"type=bind,source={source},target={target}{read_only}"]
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit", "64Mi").replace("Mi", "m")
            return ["--mount", f"type=tmpfs,target={target},tmpfs-size={size},tmpfs-mode=1777"]
        raise AssertionError(f"volume {volume['name']} ({json.dumps(volume)}) needs a host directory")

    def start(self, workdir: Path) -> None:
        docker("run", "--detach", *self.run_args(workdir))

    def run(self, workdir: Path, timeout: float) -> int:
        """Runs to completion; returns the exit code."""
        self.start(workdir)
        return int(docker("wait", self.name, timeout=timeout).stdout.strip())

    def exited(self) -> bool:
        return docker("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "false"

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, *command, check=False)

    def stop(self, grace_seconds: int) -> tuple[int, float]:
        """SIGTERM, then SIGKILL after the grace period (as the kubelet); exit code and seconds taken."""
        started = time.monotonic()
        docker("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 30)
        taken = time.monotonic() - started
        state = json.loads(docker("inspect", "--format", "{{json .State}}", self.name).stdout)
        return int(state["ExitCode"]), taken

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)


def shared_empty_dir(path: Path) -> Path:
    """A host directory standing for an emptyDir shared between containers: the kubelet makes it
    world-writable, so containers of any user can write it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


def file_volume(path: Path, files: Mapping[str, str]) -> Path:
    """A host directory standing for a configMap or secret volume."""
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (path / name).write_text(content)
        (path / name).chmod(0o444)
    path.chmod(0o755)
    return path


# Run inside a container: which of the given directories accept a new file (the answer as JSON).
_WRITE_PROBE = """
import json, os, sys
result = {}
for directory in sys.argv[1:]:
    try:
        with open(os.path.join(directory, ".write-probe"), "w") as handle:
            handle.write("x")
        os.remove(os.path.join(directory, ".write-probe"))
        result[directory] = "written"
    except OSError as error:
        result[directory] = error.strerror
print(json.dumps(result))
"""


def write_attempts(container: PodContainer, *directories: str) -> dict[str, str]:
    """Directory -> "written", or why the write failed, as the container's own user sees it."""
    result = container.exec("python", "-c", _WRITE_PROBE, *directories)
    assert result.returncode == 0, result.stderr
    attempts: dict[str, str] = json.loads(result.stdout)
    return attempts


# Where a process might try to write: the root, the Python installation, configuration, state, and
# /var/tmp, which the image leaves world-writable: only the read-only root filesystem stops a write
# there. Only /tmp may be written.
OUTSIDE_TMP = (
    "/",
    "/usr/local/lib/python3.11/site-packages",
    "/usr/local/bin",
    "/etc",
    "/var/lib",
    "/var/tmp",
    "/opt",
)
