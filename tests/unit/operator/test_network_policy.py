"""The bots' NetworkPolicy: the setting, the manifest each ChatBot gets, and the reconcile that applies it."""

import json

import pytest
from tests.support.memory_kube import MemoryKube

import chatbot_contract as contract
from chatbot_operator import builders, naming
from chatbot_operator.builders import Owner
from chatbot_operator.config import OperatorSettings, SettingsError
from chatbot_operator.handlers import build_registry
from chatbot_operator.network_policy import (
    DEFAULT_DNS_NAMESPACE_SELECTOR,
    DEFAULT_DNS_POD_SELECTOR,
    BotNetworkPolicy,
    EgressRule,
    parse_bot_network_policy,
)
from chatbot_operator.reconcile import Reconciler

OWNER = Owner(name="docs-assistant", namespace="docs", uid="0b7e-uid")
CHART_VALUE = {
    "llmEgress": [{"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"], "ports": [443]}],
    "extraEgress": [
        {"cidr": "198.51.100.10/32", "ports": [443, 22]},
        {"namespaceSelector": {"matchLabels": {"team": "llm"}}, "podSelector": {}, "ports": [8000]},
    ],
    "dns": {"podSelector": {"matchLabels": {"k8s-app": "coredns"}}},
    "ingressNamespaceSelectors": [{"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}],
}


def test_an_empty_setting_means_no_policies() -> None:
    assert OperatorSettings.from_sources({}).bot_network_policy is None
    assert parse_bot_network_policy("  ") is None


def test_the_charts_json_becomes_typed_rules() -> None:
    settings = OperatorSettings.from_sources({"CHATBOT_OPERATOR_BOT_NETWORK_POLICY": json.dumps(CHART_VALUE)})
    policy = settings.bot_network_policy
    assert policy is not None
    assert policy.llm_egress == (
        EgressRule(ports=(443,), cidr="203.0.113.0/24", except_cidrs=("203.0.113.7/32",)),
    )
    assert policy.extra_egress[1].namespace_selector == {"matchLabels": {"team": "llm"}}
    assert policy.dns_namespace_selector == DEFAULT_DNS_NAMESPACE_SELECTOR
    assert policy.dns_pod_selector == {"matchLabels": {"k8s-app": "coredns"}}
    assert policy.ingress_from_same_namespace is True


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("{not json", "must be a JSON object"),
        ("[]", "must be an object"),
        ('{"llmEgres": []}', "unknown keys: llmEgres"),
        ('{"llmEgress": [{"cidr": "203.0.113.0/33", "ports": [443]}]}', "invalid CIDR '203.0.113.0/33'"),
        ('{"llmEgress": [{"cidr": "10.0.0.0/8", "ports": []}]}', "llmEgress[0].ports"),
        ('{"llmEgress": [{"cidr": "10.0.0.0/8", "ports": [70000]}]}', "llmEgress[0].ports"),
        ('{"extraEgress": [{"ports": [443]}]}', "extraEgress[0] needs either cidr or"),
        ('{"extraEgress": [{"cidr": "10.0.0.0/8", "podSelector": {}, "ports": [1]}]}', "needs either cidr"),
        ('{"ingressFromSameNamespace": "yes"}', "ingressFromSameNamespace"),
        ('{"llmEgress": [{"cidr": "203.0.113.7", "ports": [443]}]}', "invalid CIDR '203.0.113.7'"),
        ('{"llmEgress": [{"cidr": 3, "ports": [443]}]}', "invalid CIDR 3"),
        (
            '{"llmEgress": [{"podSelector": {}, "except": ["10.0.0.0/8"], "ports": [443]}]}',
            "needs either cidr",
        ),
        ('{"llmEgress": [{"cidr": "10.0.0.0/8", "port": 443, "ports": [443]}]}', "unknown keys: port"),
        ('{"ingressNamespaceSelectors": {"matchLabels": {}}}', "ingressNamespaceSelectors must be a list"),
    ],
)
def test_a_bad_setting_names_what_is_wrong(value: str, named: str) -> None:
    with pytest.raises(SettingsError, match="CHATBOT_OPERATOR_BOT_NETWORK_POLICY") as error:
        OperatorSettings.from_sources({}, ["--bot-network-policy", value])
    assert named in str(error.value)


def test_policy_selects_only_this_bots_pods_and_is_owned_by_its_chatbot() -> None:
    policy = builders.build_network_policy(OWNER, BotNetworkPolicy())
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["namespace"] == "docs"
    assert policy["metadata"]["ownerReferences"] == [builders.build_owner_reference(OWNER)]
    assert policy["metadata"]["labels"][naming.LABEL_MANAGED_BY] == "chatbot-operator"
    assert policy["spec"]["podSelector"] == {"matchLabels": naming.selector_labels("docs-assistant")}
    # Both directions listed: whatever no rule allows is denied.
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_without_egress_rules_a_bot_may_reach_dns_and_nothing_else() -> None:
    spec = builders.build_network_policy(OWNER, BotNetworkPolicy())["spec"]
    assert spec["egress"] == [
        {
            "to": [
                {"namespaceSelector": DEFAULT_DNS_NAMESPACE_SELECTOR, "podSelector": DEFAULT_DNS_POD_SELECTOR}
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]


def test_egress_to_the_llm_and_extra_hosts_is_by_cidr_or_selector_on_the_listed_ports() -> None:
    policy = parse_bot_network_policy(json.dumps(CHART_VALUE))
    assert policy is not None
    dns, llm, git, in_cluster = builders.build_network_policy(OWNER, policy)["spec"]["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "coredns"}}
    assert llm == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"]}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    assert git == {
        "to": [{"ipBlock": {"cidr": "198.51.100.10/32"}}],
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 22}],
    }
    assert in_cluster["to"] == [{"namespaceSelector": {"matchLabels": {"team": "llm"}}, "podSelector": {}}]


def test_ingress_reaches_only_the_bot_port_from_its_own_and_the_selected_namespaces() -> None:
    policy = parse_bot_network_policy(json.dumps(CHART_VALUE))
    assert policy is not None
    (rule,) = builders.build_network_policy(OWNER, policy)["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": contract.PORT_NAME}]
    assert rule["from"] == [
        {"podSelector": {}},  # the ChatBot's own namespace
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}},
    ]


def test_no_ingress_sources_means_no_ingress_at_all() -> None:
    policy = BotNetworkPolicy(ingress_from_same_namespace=False)
    assert builders.build_network_policy(OWNER, policy)["spec"]["ingress"] == []


def reconcile_faq_bot(settings: OperatorSettings) -> MemoryKube:
    kube = MemoryKube()
    chatbot = {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid, "generation": 1},
        "spec": {
            "model": "gpt-4o-mini",
            "systemPrompt": "Be brief.",
            "llm": {"provider": "openai-compatible", "baseURL": "https://llm.example/v1"},
        },
    }
    Reconciler(kube, settings, post_event=lambda *_: None).reconcile(chatbot)
    return kube


def test_reconcile_applies_the_policy_before_any_pod_can_start() -> None:
    settings = OperatorSettings.from_sources({}, ["--bot-network-policy", json.dumps(CHART_VALUE)])
    kube = reconcile_faq_bot(settings)
    assert kube.applied[0] == "NetworkPolicy"
    assert kube.applied.index("NetworkPolicy") < kube.applied.index("Deployment")
    assert ("networkpolicies", "docs", naming.network_policy_name(OWNER.name)) in kube.objects


def test_reconcile_without_the_setting_creates_no_policy() -> None:
    kube = reconcile_faq_bot(OperatorSettings.from_sources({}))
    assert "NetworkPolicy" not in kube.applied
    assert "Deployment" in kube.applied


def watched_plurals(settings: OperatorSettings) -> set[str | None]:
    registry = build_registry(settings)
    return {
        handler.selector.any_name for handler in registry._watching.get_all_handlers() if handler.selector
    }


def test_policies_are_watched_for_drift_only_when_the_operator_creates_them() -> None:
    # Without the setting the chart grants no rights on networkpolicies: a watch would be refused.
    assert "networkpolicies" not in watched_plurals(OperatorSettings())
    with_policies = OperatorSettings.from_sources({}, ["--bot-network-policy", json.dumps(CHART_VALUE)])
    assert "networkpolicies" in watched_plurals(with_policies)
    assert {"deployments", "services", "configmaps", "secrets"} <= watched_plurals(with_policies)
