"""Pure builders: a ChatBot (owner + spec + resolved inputs) in, a child manifest dict out.

No API calls here; every function is tested as plain dicts. The reconciler applies the results
with server-side apply, so each manifest holds exactly the fields the operator owns.
"""

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import chatbot_contract as contract
from chatbot_operator import bot_env, corpus, fallback_keys, golden, naming, spec_fields
from chatbot_operator.api import API_VERSION, KIND
from chatbot_operator.bot_settings import compute_settings_hash, serialize_settings
from chatbot_operator.network_policy import BotNetworkPolicy, EgressRule
from chatbot_operator.spec_fields import SecretKeyRef

CORPUS_VOLUME = "corpus"
CONFIG_VOLUME = "config"
TMP_VOLUME = "tmp"
API_KEYS_VOLUME = "api-keys"
LLM_KEY_VOLUME = "llm-api-key"
BOT_CONTAINER = "bot"
CORPUS_CREDENTIALS_VOLUME = "corpus-credentials"
CORPUS_TMP_VOLUME = "corpus-tmp"
CORPUS_FETCH_COMMAND = ("python", "-m", "chatbot_server.corpus_fetch")
CORPUS_FETCH_TIMEOUT_SECONDS = 300
MIB = 1024 * 1024


@dataclass(frozen=True)
class Owner:
    """The identity of the ChatBot that owns a child."""

    name: str
    namespace: str
    uid: str


def build_owner_reference(owner: Owner) -> dict[str, Any]:
    """Adopts a child: the garbage collector deletes it with its ChatBot, no finalizer needed."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_metadata(owner: Owner, name: str) -> dict[str, Any]:
    """A child's name, namespace, labels and owner reference."""
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": naming.child_labels(owner.name),
        "ownerReferences": [build_owner_reference(owner)],
    }


def build_config_map(owner: Owner, settings_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": build_metadata(owner, naming.config_map_name(owner.name)),
        "data": {contract.CONFIG_FILE_KEY: settings_json},
    }


def build_secret(owner: Owner, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The owned Secret for values resolved from App Configuration / Key Vault."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": build_metadata(owner, naming.secret_name(owner.name)),
        # `data`, not `stringData`: the API server returns `data`, so drift checks compare like with like.
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in sorted(secrets.items())},
    }


def build_service(owner: Owner, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": build_metadata(owner, naming.service_name(owner.name)),
        "spec": {
            "type": spec_fields.service_type(spec),
            "selector": naming.selector_labels(owner.name),
            "ports": [
                {
                    "name": contract.PORT_NAME,
                    "port": spec_fields.service_port(spec),
                    "targetPort": contract.PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _build_security_context() -> dict[str, Any]:
    """Passes the restricted Pod Security Standard."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _build_bot_container(spec: Mapping[str, Any], image: str, llm_key: SecretKeyRef | None) -> dict[str, Any]:
    mounts = [
        {"name": CONFIG_VOLUME, "mountPath": contract.CONFIG_DIR, "readOnly": True},
        {"name": CORPUS_VOLUME, "mountPath": contract.CORPUS_DIR, "readOnly": True},
        {"name": TMP_VOLUME, "mountPath": contract.TMP_DIR},
    ]
    if spec_fields.api_keys_secret_name(spec):
        mounts.append({"name": API_KEYS_VOLUME, "mountPath": contract.API_KEYS_DIR, "readOnly": True})
    if llm_key is not None:
        mounts.append({"name": LLM_KEY_VOLUME, "mountPath": contract.LLM_API_KEY_DIR, "readOnly": True})
    mounts += fallback_keys.build_mounts(spec)
    return {
        "name": BOT_CONTAINER,
        "image": image,
        "ports": [{"name": contract.PORT_NAME, "containerPort": contract.PORT, "protocol": "TCP"}],
        "env": bot_env.build_bot_env(spec, llm_key),
        "volumeMounts": mounts,
        "resources": spec.get("resources") or spec_fields.RESOURCES,
        "securityContext": _build_security_context(),
        "livenessProbe": {
            "httpGet": {"path": contract.LIVENESS_PATH, "port": contract.PORT_NAME},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        # Ready only once the corpus is indexed, so a rollout never routes to an empty bot.
        "readinessProbe": {
            "httpGet": {"path": contract.READINESS_PATH, "port": contract.PORT_NAME},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "startupProbe": {
            "httpGet": {"path": contract.LIVENESS_PATH, "port": contract.PORT_NAME},
            "periodSeconds": 2,
            "failureThreshold": 60,
        },
        # Lets endpoints drop the pod before the bot stops accepting, so open streams drain.
        "lifecycle": {"preStop": {"sleep": {"seconds": contract.PRE_STOP_SECONDS}}},
    }


def _build_volumes(
    spec: Mapping[str, Any], owner: Owner, llm_key: SecretKeyRef | None
) -> list[dict[str, Any]]:
    max_size_mib = spec_fields.corpus_max_size_mib(spec.get("corpus", {}))
    volumes: list[dict[str, Any]] = [
        {"name": CONFIG_VOLUME, "configMap": {"name": naming.config_map_name(owner.name)}},
        # Room for the fetched files plus git's download during the fetch, and a margin so the
        # kubelet never evicts the pod before the fetch itself reports CorpusTooLarge.
        {"name": CORPUS_VOLUME, "emptyDir": {"sizeLimit": f"{max_size_mib * 2 + 16}Mi"}},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    api_keys = spec_fields.api_keys_secret_name(spec)
    if api_keys:
        volumes.append({"name": API_KEYS_VOLUME, "secret": {"secretName": api_keys}})
    if llm_key is not None:
        # Only the key's own entry, under the file name the bot reads; not a subPath mount, which
        # the kubelet would never update after a rotation.
        item = {"key": llm_key.key, "path": contract.LLM_API_KEY_FILE_NAME}
        volumes.append({"name": LLM_KEY_VOLUME, "secret": {"secretName": llm_key.name, "items": [item]}})
    volumes += fallback_keys.build_volumes(spec)
    return volumes


def build_corpus_init_container(
    *,
    image: str,
    repo: str,
    commit: str,
    paths: Sequence[str],
    max_size_bytes: int,
    credentials_secret_name: str | None,
    fetch_timeout_seconds: int = CORPUS_FETCH_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The init container that fetches `commit` of `repo` into the `corpus` volume.

    It runs the bot image (which ships git) so each pod needs one image, and the fetch code is
    versioned with the bot that reads its output.
    """
    env = [
        {"name": contract.CORPUS_REPO_ENV, "value": repo},
        {"name": contract.CORPUS_COMMIT_ENV, "value": commit},
        {"name": contract.CORPUS_PATHS_ENV, "value": json.dumps(list(paths))},
        {"name": contract.CORPUS_DIR_ENV, "value": contract.CORPUS_DIR},
        {"name": contract.CORPUS_MAX_SIZE_ENV, "value": str(max_size_bytes)},
        {"name": contract.CORPUS_FETCH_TIMEOUT_ENV, "value": str(fetch_timeout_seconds)},
        {"name": contract.CORPUS_TERMINATION_LOG_ENV, "value": contract.TERMINATION_LOG},
        {"name": "TMPDIR", "value": contract.TMP_DIR},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": CORPUS_VOLUME, "mountPath": contract.CORPUS_DIR},
        {"name": CORPUS_TMP_VOLUME, "mountPath": contract.TMP_DIR},
    ]
    if credentials_secret_name:
        env.append({"name": contract.CORPUS_CREDENTIALS_DIR_ENV, "value": contract.CORPUS_CREDENTIALS_DIR})
        mounts.append(
            {
                "name": CORPUS_CREDENTIALS_VOLUME,
                "mountPath": contract.CORPUS_CREDENTIALS_DIR,
                "readOnly": True,
            }
        )
    return {
        "name": corpus.INIT_CONTAINER,
        "image": image,
        "command": list(CORPUS_FETCH_COMMAND),
        "env": env,
        "volumeMounts": mounts,
        "terminationMessagePath": contract.TERMINATION_LOG,
        # If the command dies before writing its message, the tail of its log (which never holds
        # a secret) says why.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": _build_security_context(),
    }


def build_corpus_volumes(credentials_secret_name: str | None) -> list[dict[str, Any]]:
    """The volumes the init container needs besides the shared `corpus` emptyDir."""
    volumes: list[dict[str, Any]] = [
        # In memory: a private SSH key copied here for ssh never reaches the node's disk.
        {"name": CORPUS_TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if credentials_secret_name:
        volumes.append(
            {
                "name": CORPUS_CREDENTIALS_VOLUME,
                "secret": {"secretName": credentials_secret_name, "defaultMode": 0o400},
            }
        )
    return volumes


def build_deployment(
    owner: Owner,
    spec: Mapping[str, Any],
    *,
    image: str,
    settings_hash: str,
    corpus_commit: str | None,
    llm_key: SecretKeyRef | None,
) -> dict[str, Any]:
    """The bot's Deployment. `corpus_commit` must be set when spec.corpus is."""
    pod_annotations = {naming.ANNOTATION_SETTINGS_HASH: settings_hash}
    init_containers: list[dict[str, Any]] = []
    volumes = _build_volumes(spec, owner, llm_key)
    corpus_spec = spec.get("corpus")
    if corpus_spec:
        if corpus_commit is None:
            raise ValueError("a ChatBot with a corpus needs a resolved commit to build its Deployment")
        pod_annotations[naming.ANNOTATION_CORPUS_COMMIT] = corpus_commit
        credentials = spec_fields.corpus_credentials_secret(corpus_spec)
        init_containers.append(
            build_corpus_init_container(
                image=image,
                repo=corpus_spec["repo"],
                commit=corpus_commit,
                paths=corpus_spec.get("paths", []),
                max_size_bytes=spec_fields.corpus_max_size_mib(corpus_spec) * MIB,
                credentials_secret_name=credentials,
            )
        )
        volumes.extend(build_corpus_volumes(credentials))

    bot_container = _build_bot_container(spec, image, llm_key)
    init_containers += golden.build_init_containers(spec, bot_container)  # after the corpus fetch
    pod_spec: dict[str, Any] = {
        # The bot never talks to the Kubernetes API.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": contract.TERMINATION_GRACE_SECONDS,
        "containers": [bot_container],
        "volumes": volumes,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    for key in ("nodeSelector", "tolerations", "affinity"):
        if spec.get(key):
            pod_spec[key] = spec[key]

    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": naming.selector_labels(owner.name)},
        "revisionHistoryLimit": 5,
        # No downtime on update: a new pod must be ready before an old one goes.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": naming.child_labels(owner.name), "annotations": pod_annotations},
            "spec": pod_spec,
        },
    }
    # Unset replicas: the operator leaves the count to whoever owns it (an HPA, kubectl scale).
    if spec.get("replicas") is not None:
        deployment_spec["replicas"] = spec["replicas"]

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": build_metadata(owner, naming.deployment_name(owner.name)),
        "spec": deployment_spec,
    }


def _build_egress_rule(rule: EgressRule) -> dict[str, Any]:
    peer: dict[str, Any] = {}
    if rule.cidr:
        peer["ipBlock"] = {
            "cidr": rule.cidr,
            **({"except": list(rule.except_cidrs)} if rule.except_cidrs else {}),
        }
    if rule.namespace_selector is not None:
        peer["namespaceSelector"] = dict(rule.namespace_selector)
    if rule.pod_selector is not None:
        peer["podSelector"] = dict(rule.pod_selector)
    return {"to": [peer], "ports": [{"protocol": "TCP", "port": port} for port in rule.ports]}


def build_network_policy(owner: Owner, policy: BotNetworkPolicy) -> dict[str, Any]:
    """The bot pods' NetworkPolicy: DNS and the listed egress only; the bot port from chosen namespaces.

    Both directions are listed in policyTypes, so whatever no rule allows is denied (the init
    container included: it shares the pod's network).
    """
    sources: list[dict[str, Any]] = []
    if policy.ingress_from_same_namespace:
        sources.append({"podSelector": {}})
    sources.extend({"namespaceSelector": dict(selector)} for selector in policy.ingress_namespace_selectors)
    ingress: list[dict[str, Any]] = []
    if sources:
        ingress.append({"from": sources, "ports": [{"protocol": "TCP", "port": contract.PORT_NAME}]})
    dns_peer = {
        "namespaceSelector": dict(policy.dns_namespace_selector),
        "podSelector": dict(policy.dns_pod_selector),
    }
    egress = [
        {"to": [dns_peer], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        *(_build_egress_rule(rule) for rule in (*policy.llm_egress, *policy.extra_egress)),
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": build_metadata(owner, naming.network_policy_name(owner.name)),
        "spec": {
            "podSelector": {"matchLabels": naming.selector_labels(owner.name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def stamp_applied_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """Annotate a manifest with a hash of itself, so removing a field we set is seen as a change."""
    digest = compute_settings_hash(serialize_settings(manifest))
    metadata = manifest["metadata"]
    metadata["annotations"] = {**metadata.get("annotations", {}), naming.ANNOTATION_APPLIED_HASH: digest}
    return manifest
