"""Run a ChatBot's bot on this machine from its Deployment's own pod spec.

Reads the Deployment and its ConfigMap with kubectl, maps every volume mount to a local folder
(ConfigMap volumes are written out, emptyDirs are empty folders), rewrites environment values that
point into a mount, runs each init container's command, then starts the bot container's command.
Nothing is copied from the operator's builders: what runs is what the cluster would run.

    python hack/run_bot_locally.py --namespace demo --name docs-assistant --port 8080
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# The bot image's entrypoint; the Deployment's bot container relies on it (no `command`).
IMAGE_ENTRYPOINT = [sys.executable, "-m", "chatbot_server"]


def kubectl_json(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        ["kubectl", *args, "-o", "json"], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def prepare_volumes(pod: dict[str, Any], namespace: str, root: Path) -> dict[str, Path]:
    """Local folder for each volume of the pod."""
    folders: dict[str, Path] = {}
    for volume in pod.get("volumes", []):
        folder = root / volume["name"]
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if "configMap" in volume:
            config_map = kubectl_json("-n", namespace, "get", "configmap", volume["configMap"]["name"])
            for key, value in (config_map.get("data") or {}).items():
                (folder / key).write_text(value)
        elif "secret" in volume:
            pass  # left empty locally: no credentials are copied out of the cluster
        folders[volume["name"]] = folder
    return folders


def container_environment(container: dict[str, Any], folders: dict[str, Path], port: int) -> dict[str, str]:
    mounts = {m["mountPath"]: folders[m["name"]] for m in container.get("volumeMounts", [])}
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHATBOT_")}
    for item in container.get("env", []):
        if "value" not in item:
            continue  # secretKeyRef: the demo bot runs offline, no keys leave the cluster
        value = item["value"]
        for mount_path, folder in sorted(mounts.items(), key=lambda m: -len(m[0])):
            if value == mount_path or value.startswith(mount_path + "/"):
                value = str(folder) + value[len(mount_path) :]
                break
        env[item["name"]] = value
    env["CHATBOT_PORT"] = str(port)
    env["CHATBOT_HOST"] = "127.0.0.1"
    env.setdefault("TMPDIR", str(folders.get("tmp", Path("/tmp"))))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workdir", default=".demo/bot")
    args = parser.parse_args()

    deployment = kubectl_json("-n", args.namespace, "get", "deployment", args.name)
    pod = deployment["spec"]["template"]["spec"]
    root = Path(args.workdir).resolve()
    folders = prepare_volumes(pod, args.namespace, root)

    for init in pod.get("initContainers", []):
        env = container_environment(init, folders, args.port)
        env["CHATBOT_CORPUS_TERMINATION_LOG"] = str(root / f"{init['name']}.termination-log")
        print(f"running init container {init['name']!r}: {' '.join(init['command'])}", flush=True)
        command = [
            sys.executable if init["command"][0] == "python" else init["command"][0],
            *init["command"][1:],
        ]
        result = subprocess.run(command, env=env, check=False)
        if result.returncode != 0:
            log = root / f"{init['name']}.termination-log"
            reason = log.read_text() if log.exists() else f"exit code {result.returncode}"
            sys.exit(f"init container {init['name']!r} failed: {reason}")

    bot = next(c for c in pod["containers"] if c["name"] == "bot")
    env = container_environment(bot, folders, args.port)
    command = bot.get("command") or IMAGE_ENTRYPOINT
    print(f"chat with {args.name} at http://127.0.0.1:{args.port}/", flush=True)
    os.execvpe(command[0], [*command, *bot.get("args", [])], env)


if __name__ == "__main__":
    main()
