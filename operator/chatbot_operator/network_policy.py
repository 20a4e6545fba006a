"""The bots' NetworkPolicy setting: what each bot pod may reach and who may reach it.

The chart passes its `networkPolicy` value as one JSON document (CHATBOT_OPERATOR_BOT_NETWORK_POLICY);
the operator then gives every ChatBot a NetworkPolicy of its own, in the ChatBot's namespace (a
policy in the operator's namespace would protect no bot). The chart's schema checks the shape at
install time; this module checks it again for runs outside the chart and turns it into typed values.
"""

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

SETTING: Final = "bot network policy (CHATBOT_OPERATOR_BOT_NETWORK_POLICY)"


class SettingsError(ValueError):
    """The policy setting cannot work; config.py reports it like any other bad setting."""


# kube-dns / CoreDNS as most distributions label it (kubeadm, AKS, EKS, GKE, kind).
DEFAULT_DNS_NAMESPACE_SELECTOR: Final = {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
DEFAULT_DNS_POD_SELECTOR: Final = {"matchLabels": {"k8s-app": "kube-dns"}}


@dataclass(frozen=True)
class EgressRule:
    """Traffic a bot may send: to a CIDR, or to pods chosen by label selectors, on TCP ports."""

    ports: tuple[int, ...]
    cidr: str = ""
    except_cidrs: tuple[str, ...] = ()
    namespace_selector: Mapping[str, Any] | None = None
    pod_selector: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class BotNetworkPolicy:
    llm_egress: tuple[EgressRule, ...] = ()
    # Anything else the pod must reach: the corpus init container shares the pod's policy, so the
    # git host of spec.corpus.repo goes here.
    extra_egress: tuple[EgressRule, ...] = ()
    dns_namespace_selector: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_DNS_NAMESPACE_SELECTOR)
    dns_pod_selector: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_DNS_POD_SELECTOR)
    ingress_namespace_selectors: tuple[Mapping[str, Any], ...] = ()
    ingress_from_same_namespace: bool = True


def parse_bot_network_policy(text: str) -> BotNetworkPolicy | None:
    """The policy from its JSON form; None (no policies) for an empty string."""
    if not text.strip():
        return None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{SETTING} must be a JSON object: {error}") from None
    value = _mapping(document, "")
    unknown = set(value) - {
        "llmEgress", "extraEgress", "dns", "ingressNamespaceSelectors", "ingressFromSameNamespace"
    }  # fmt: skip
    if unknown:
        raise SettingsError(f"{SETTING} has unknown keys: {', '.join(sorted(unknown))}")
    dns = _mapping(value.get("dns", {}), "dns")
    same_namespace = value.get("ingressFromSameNamespace", True)
    if not isinstance(same_namespace, bool):
        raise SettingsError(f"{SETTING}: ingressFromSameNamespace must be true or false")
    return BotNetworkPolicy(
        llm_egress=_egress_rules(value.get("llmEgress", []), "llmEgress"),
        extra_egress=_egress_rules(value.get("extraEgress", []), "extraEgress"),
        dns_namespace_selector=_mapping(
            dns.get("namespaceSelector", DEFAULT_DNS_NAMESPACE_SELECTOR), "dns.namespaceSelector"
        ),
        dns_pod_selector=_mapping(dns.get("podSelector", DEFAULT_DNS_POD_SELECTOR), "dns.podSelector"),
        ingress_namespace_selectors=tuple(
            _mapping(selector, f"ingressNamespaceSelectors[{index}]")
            for index, selector in enumerate(
                _list(value.get("ingressNamespaceSelectors", []), "ingressNamespaceSelectors")
            )
        ),
        ingress_from_same_namespace=same_namespace,
    )


def _egress_rules(value: Any, where: str) -> tuple[EgressRule, ...]:
    return tuple(_egress_rule(item, f"{where}[{index}]") for index, item in enumerate(_list(value, where)))


def _egress_rule(value: Any, where: str) -> EgressRule:
    rule = _mapping(value, where)
    unknown = set(rule) - {"cidr", "except", "namespaceSelector", "podSelector", "ports"}
    if unknown:
        raise SettingsError(f"{SETTING}: {where} has unknown keys: {', '.join(sorted(unknown))}")
    ports = _list(rule.get("ports"), f"{where}.ports")
    if not ports or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports):
        raise SettingsError(f"{SETTING}: {where}.ports must be a non-empty list of ports (1-65535)")
    has_selector = "namespaceSelector" in rule or "podSelector" in rule
    if ("cidr" in rule) == has_selector or ("except" in rule and "cidr" not in rule):
        raise SettingsError(
            f"{SETTING}: {where} needs either cidr or namespaceSelector/podSelector (except goes with cidr)"
        )
    cidr = rule.get("cidr", "")
    except_cidrs = _list(rule.get("except", []), f"{where}.except")
    for text in (cidr, *except_cidrs) if "cidr" in rule else ():
        if not _is_cidr(text):
            raise SettingsError(f"{SETTING}: {where} has an invalid CIDR {text!r}")
    return EgressRule(
        ports=tuple(ports),
        cidr=cidr,
        except_cidrs=tuple(except_cidrs),
        namespace_selector=_mapping(rule["namespaceSelector"], f"{where}.namespaceSelector")
        if "namespaceSelector" in rule
        else None,
        pod_selector=_mapping(rule["podSelector"], f"{where}.podSelector") if "podSelector" in rule else None,
    )


def _is_cidr(text: Any) -> bool:
    # The API server wants address/prefix; host bits may be set (it is not strict about them).
    if not isinstance(text, str) or "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{SETTING}: {where or 'the value'} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SettingsError(f"{SETTING}: {where} must be a list")
    return value
