"""Operator settings: one typed object, from environment variables, overridden by flags."""

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeVar

from chatbot_operator import network_policy

ENV_PREFIX: Final = "CHATBOT_OPERATOR_"
DEFAULT_BOT_IMAGE: Final = "ghcr.io/chatbot-operator/bot:0.1.0"

LogFormat = Literal["text", "json"]


class SettingsError(ValueError):
    """An operator setting has a value that cannot work; the message names the setting."""


@dataclass(frozen=True)
class OperatorSettings:
    # Empty: every namespace (cluster-wide RBAC). Otherwise only these (namespace-scoped Roles suffice).
    namespaces: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    bot_image: str = DEFAULT_BOT_IMAGE
    liveness_port: int = 8081
    # 0.0.0.0 so the kubelet can probe the pod; local runs use 127.0.0.1.
    liveness_host: str = "0.0.0.0"
    # Prometheus metrics; 0 (the default) serves none. The chart sets it when metrics are enabled.
    metrics_port: int = 0
    # How often each ChatBot is checked for a due corpus or App Configuration refresh (cheap, no API calls).
    refresh_check_seconds: float = 30.0
    corpus_resolve_timeout: float = 20.0
    appconfig_timeout: float = 15.0
    # Key Vault references. Empty api version: the SDK's default. A CA bundle: for vaults behind a
    # TLS-inspecting proxy or a private endpoint with a private CA. Challenge-resource verification
    # guards against a vault URL that hands the token to another host; only an emulator on loopback
    # (which cannot live on *.vault.azure.net) needs it off.
    keyvault_api_version: str = ""
    keyvault_ca_bundle: str = ""
    keyvault_verify_challenge_resource: bool = True
    # Standby replicas with Kopf peering; off for the default single replica with Recreate.
    peering: str = ""
    # One NetworkPolicy per ChatBot when set (the chart's networkPolicy value); None creates none.
    bot_network_policy: network_policy.BotNetworkPolicy | None = None

    @classmethod
    def from_sources(cls, environ: Mapping[str, str], argv: Sequence[str] = ()) -> "OperatorSettings":
        parser = argparse.ArgumentParser(
            prog="python -m chatbot_operator",
            description="Reconciles ChatBot resources. Every flag has a CHATBOT_OPERATOR_* variable.",
        )
        env = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.startswith(ENV_PREFIX)
        }
        parser.add_argument(
            "--namespaces",
            default=env.get("namespaces", ""),
            help="comma-separated namespaces to watch; empty watches all (CHATBOT_OPERATOR_NAMESPACES)",
        )
        parser.add_argument(
            "--log-level", default=env.get("log_level", "INFO"), help="DEBUG, INFO, WARNING, ERROR"
        )
        parser.add_argument("--log-format", default=env.get("log_format", "text"), help="text or json")
        parser.add_argument(
            "--bot-image", default=env.get("bot_image", DEFAULT_BOT_IMAGE), help="default bot image"
        )
        parser.add_argument(
            "--liveness-port", default=env.get("liveness_port", "8081"), help="port of /healthz"
        )
        parser.add_argument(
            "--liveness-host", default=env.get("liveness_host", "0.0.0.0"), help="address of /healthz"
        )
        parser.add_argument(
            "--metrics-port", default=env.get("metrics_port", "0"), help="port of /metrics; 0 serves none"
        )
        parser.add_argument(
            "--refresh-check-seconds",
            default=env.get("refresh_check_seconds", "30"),
            help="how often ChatBots are checked for a due corpus or App Configuration refresh",
        )
        parser.add_argument("--corpus-resolve-timeout", default=env.get("corpus_resolve_timeout", "20"))
        parser.add_argument("--appconfig-timeout", default=env.get("appconfig_timeout", "15"))
        parser.add_argument(
            "--keyvault-api-version",
            default=env.get("keyvault_api_version", ""),
            help="Key Vault REST API version for Key Vault references; empty uses the SDK's default",
        )
        parser.add_argument(
            "--keyvault-ca-bundle",
            default=env.get("keyvault_ca_bundle", ""),
            help="PEM file of CAs to trust for Key Vault; empty trusts the system's",
        )
        parser.add_argument(
            "--keyvault-verify-challenge-resource",
            default=env.get("keyvault_verify_challenge_resource", "true"),
            help="true (default) or false; false only for a Key Vault emulator",
        )
        parser.add_argument(
            "--peering",
            default=env.get("peering", ""),
            help="Kopf peering name for standby replicas; empty runs standalone",
        )
        parser.add_argument(
            "--bot-network-policy",
            default=env.get("bot_network_policy", ""),
            help="JSON: the NetworkPolicy every bot gets (docs/helm-values.md); empty creates none",
        )
        args = parser.parse_args(list(argv))

        log_format = args.log_format.lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"log format must be text or json, not {args.log_format!r}")
        log_level = args.log_level.upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"log level must be DEBUG, INFO, WARNING or ERROR, not {args.log_level!r}")
        return cls(
            namespaces=tuple(ns.strip() for ns in args.namespaces.split(",") if ns.strip()),
            log_level=log_level,
            log_format=log_format,
            bot_image=args.bot_image,
            liveness_port=_parse_number(int, "liveness port", args.liveness_port),
            liveness_host=args.liveness_host,
            metrics_port=_parse_port(args.metrics_port),
            refresh_check_seconds=_parse_number(float, "refresh check seconds", args.refresh_check_seconds),
            corpus_resolve_timeout=_parse_number(
                float, "corpus resolve timeout", args.corpus_resolve_timeout
            ),
            appconfig_timeout=_parse_number(float, "App Configuration timeout", args.appconfig_timeout),
            keyvault_api_version=args.keyvault_api_version.strip(),
            keyvault_ca_bundle=_parse_file("Key Vault CA bundle", args.keyvault_ca_bundle.strip()),
            keyvault_verify_challenge_resource=_parse_bool(
                "Key Vault challenge-resource verification", args.keyvault_verify_challenge_resource
            ),
            peering=args.peering,
            bot_network_policy=_parse_bot_network_policy(args.bot_network_policy),
        )


T = TypeVar("T", int, float)


def _parse_bot_network_policy(text: str) -> network_policy.BotNetworkPolicy | None:
    try:
        return network_policy.parse_bot_network_policy(text)
    except network_policy.SettingsError as error:
        raise SettingsError(str(error)) from None


def _parse_port(text: str) -> int:
    if text == "0":
        return 0
    port = _parse_number(int, "metrics port", text)
    if port > 65535:
        raise SettingsError(f"metrics port must be at most 65535, not {text!r}")
    return port


def _parse_file(name: str, text: str) -> str:
    # Checked at start: a wrong path would otherwise surface only as every Key Vault reference
    # failing, much later, as if the vault were unreachable.
    if text and not Path(text).is_file():
        raise SettingsError(f"{name} must be a readable file, not {text!r}")
    return text


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name} must be true or false, not {text!r}")


def _parse_number(kind: type[T], name: str, text: str) -> T:
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, not {text!r}")
    return value
