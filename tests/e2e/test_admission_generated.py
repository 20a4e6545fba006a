"""Generated ChatBot specs (hypothesis) against the real API server's admission.

Each example starts from a valid spec and applies a few mutations, each drawn from values the CRD
schema allows or forbids for one field (ranges, patterns, lengths, enums, types, CEL rules,
unknown fields). The oracle is the mutation: a spec with one forbidden value must be rejected
with a message naming that field's path; a spec with only allowed values must be accepted.
Admission is checked with server-side dry runs (nothing is stored); a sample of valid specs is
then created for real and must be reconciled by the operator.

ADMISSION_EXAMPLES (default 60) and ADMISSION_RECONCILED (default 3, plus one fixed example) set the sizes;
`make admission-fuzz` runs the long version. tests/e2e/test_crd.py and tests/data/invalid_chatbots
hold the hand-written cases.
"""

from __future__ import annotations

import copy
import json
import os
import string
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.e2e.cluster import CRD_FILE, Cluster, condition, unique_name, wait_until
from tests.e2e.fleet import SETTINGS_HASH
from tests.e2e.operator_process import LocalOperator, Release, print_operator_log_on_failure

EXAMPLES = int(os.environ.get("ADMISSION_EXAMPLES", "60"))
RECONCILED = int(os.environ.get("ADMISSION_RECONCILED", "3"))
GROUP, VERSION, PLURAL = "chatbot-operator.io", "v1alpha1", "chatbots"

SPEC_SCHEMA = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
    "properties"
]["spec"]
BASE_SPEC: dict[str, Any] = {
    "replicas": 1,
    "model": "gpt-4o-mini",
    "systemPrompt": "You answer questions about the docs.",
    "greeting": "Hi!",
    "generation": {"temperature": 0.2, "maxTokens": 200, "topP": 1},
    "maxContextTokens": 4000,
    "llm": {"provider": "offline"},
    "retrieval": {"topK": 4},
    "faq": [{"question": "Hours?", "answer": "Nine to five."}],
    "fallbackMessage": "A human will be in touch.",
    "service": {"type": "ClusterIP", "port": 80},
}


@dataclass(frozen=True)
class Mutation:
    """One field set to one value; `valid` says whether the CRD allows it."""

    group: str  # mutations of one group touch the same fields: at most one per example
    path: tuple[str, ...]  # where in the spec; () with `value` a dict merges several fields
    value: Any
    valid: bool
    # The field path the API server's message must name when the value is invalid.
    field: str
    # Whether a spec with this value can turn Ready on a cluster with nothing else in it.
    reconcilable: bool = True

    def apply(self, spec: dict[str, Any]) -> None:
        if not self.path:
            spec.update(copy.deepcopy(self.value))
            return
        target = spec
        for key in self.path[:-1]:
            target = target.setdefault(key, {})
        target[self.path[-1]] = copy.deepcopy(self.value)


Choices = tuple[st.SearchStrategy[Mutation], st.SearchStrategy[Mutation]]


def field_values(
    group: str,
    path: tuple[str, ...],
    valid: st.SearchStrategy[Any],
    invalid: st.SearchStrategy[Any],
    *,
    reconcilable: bool = True,
) -> Choices:
    """Mutations of one field: (those with allowed values, those with forbidden ones)."""
    field = "spec." + ".".join(path)
    return (
        valid.map(lambda v: Mutation(group, path, v, True, field, reconcilable)),
        invalid.map(lambda v: Mutation(group, path, v, False, field, reconcilable)),
    )


def invalid_only(invalid: st.SearchStrategy[Mutation]) -> Choices:
    return st.nothing(), invalid


def sized(length: int) -> st.SearchStrategy[str]:
    """A string of exactly `length` characters (schema lengths count characters, not bytes)."""
    return st.sampled_from("aé字🙂").map(lambda c: c * length)


# Printable text, any script; no control characters (they are valid, but unreadable in a report).
TEXT = st.characters(blacklist_categories=("Cs", "Cc"))
DNS_NAME = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10})?\Z")
BAD_DNS_NAME = st.sampled_from(["Upper", "under_score", "-leading", "trailing-", "a..b", "spa ce", ""])
# CPU requests kwok's fake nodes can hold, and valid ones no node can (2,000 cores, 1Gi cores).
QUANTITY = st.sampled_from(["10m", "100m", "0.5", "1"])
HUGE_QUANTITY = st.sampled_from(["128Mi", "1Gi", "2e3", 3])
BAD_QUANTITY = st.sampled_from(["lots", "1.2.3", "10 Mi", "-", "1Gb"])
DURATION = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 90), st.sampled_from("mh")) | st.just("30s")
TOO_SHORT_DURATION = st.sampled_from(["1s", "29s", "0m"])
BAD_DURATION = st.sampled_from(["10", "5 m", "1d", "m5", "-1m"])
NOT_A_NUMBER = st.sampled_from(["1", "high", True, [1]])
REPO = "https://git.example.com/docs.git"
COMPATIBLE_LLM = {"provider": "openai-compatible", "baseURL": "http://vllm.llm.svc:8000/v1"}
FALLBACK = {"provider": "openai-compatible", "model": "llama3", "baseURL": "http://ollama.llm.svc:11434/v1"}


def corpus_with(key: str, invalid: st.SearchStrategy[Any]) -> Choices:
    """A corpus with a valid repo and one invalid field (a missing repo would be the error)."""
    return invalid_only(
        invalid.map(
            lambda v: Mutation("corpus", ("corpus",), {"repo": REPO, key: v}, False, f"spec.corpus.{key}")
        )
    )


MUTATION_TABLE: list[Choices] = [
    field_values(
        "replicas",
        ("replicas",),
        st.integers(1, 2),
        st.integers(max_value=-1) | st.integers(min_value=1001) | st.just("2"),
    ),
    field_values("replicas", ("replicas",), st.sampled_from([0, 1000]), st.nothing(), reconcilable=False),
    field_values(
        "image",
        ("image",),
        st.from_regex(r"\A[a-z0-9][a-z0-9./:@_-]{0,60}\Z"),
        st.from_regex(r"\A[a-z]{1,10} [a-z]{1,10}\Z") | sized(513) | st.just(""),
    ),
    field_values(
        "model",
        ("model",),
        st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,60}\Z") | st.just("m" * 256),
        st.from_regex(r"\A[-._:/@+][a-z0-9]{0,10}\Z") | st.just("gpt 4") | st.just("m" * 257) | st.just(""),
    ),
    field_values(
        "prompt",
        ("systemPrompt",),
        st.text(TEXT, min_size=1, max_size=300) | sized(32768),
        st.just("") | sized(32769),
    ),
    field_values("greeting", ("greeting",), st.text(TEXT, max_size=300) | sized(2000), sized(2001)),
    field_values(
        "fallback", ("fallbackMessage",), st.text(TEXT, min_size=1, max_size=300), st.just("") | sized(2001)
    ),
    field_values(
        "temperature",
        ("generation", "temperature"),
        st.floats(0, 2, allow_nan=False, allow_infinity=False),
        st.floats(min_value=2, exclude_min=True, allow_infinity=False, allow_nan=False)
        | st.floats(max_value=-0.01, allow_nan=False, allow_infinity=False)
        | NOT_A_NUMBER,
    ),
    field_values(
        "top-p",
        ("generation", "topP"),
        st.floats(0, 1, allow_nan=False, allow_infinity=False),
        st.floats(1.001, 100, allow_nan=False, allow_infinity=False)
        | st.floats(-100, -0.001, allow_nan=False, allow_infinity=False),
    ),
    field_values(
        "presence",
        ("generation", "presencePenalty"),
        st.floats(-2, 2, allow_nan=False, allow_infinity=False),
        st.floats(2.001, 1e6, allow_nan=False, allow_infinity=False)
        | st.floats(-1e6, -2.001, allow_nan=False, allow_infinity=False),
    ),
    field_values(
        "frequency",
        ("generation", "frequencyPenalty"),
        st.floats(-2, 2, allow_nan=False, allow_infinity=False),
        st.floats(2.001, 1e6, allow_nan=False, allow_infinity=False)
        | st.floats(-1e6, -2.001, allow_nan=False, allow_infinity=False),
    ),
    # Below the smallest allowed context, so the CEL rule between the two always holds.
    field_values(
        "context", ("generation", "maxTokens"), st.integers(1, 255), st.integers(max_value=0) | st.just(1.5)
    ),
    field_values(
        "context",
        ("maxContextTokens",),
        st.integers(256, 2_000_000),
        st.integers(max_value=255) | st.integers(min_value=2_000_001),
    ),
    # The CEL rule: the answer must leave room for the conversation.
    invalid_only(
        st.integers(256, 100_000).flatmap(
            lambda context: st.integers(context, 1_000_000).map(
                lambda tokens: Mutation(
                    "context",
                    (),
                    {
                        "maxContextTokens": context,
                        "generation": {**BASE_SPEC["generation"], "maxTokens": tokens},
                    },
                    False,
                    "spec.generation.maxTokens",
                )
            )
        )
    ),
    field_values(
        "provider",
        ("llm", "provider"),
        st.just("offline"),
        st.text(string.ascii_letters + "-", min_size=1, max_size=20).filter(
            lambda p: p not in ("offline", "openai", "azure-openai", "openai-compatible")
        ),
    ),
    field_values(
        "provider",
        ("llm",),
        st.builds(
            lambda url, timeout, retries: {
                "provider": "openai-compatible",
                "baseURL": url,
                "timeoutSeconds": timeout,
                "maxRetries": retries,
            },
            st.from_regex(r"\Ahttps?://[a-z0-9.-]{1,30}(:[0-9]{2,5})?(/[a-z0-9]{0,10})?\Z"),
            st.integers(1, 600),
            st.integers(0, 10),
        ),
        st.nothing(),
    ),
    field_values(
        "provider",
        ("llm", "baseURL"),
        st.nothing(),
        st.sampled_from(["ftp://llm", "llm.local:8000", "http://a b", "https://"]),
    ),
    field_values(
        "provider", ("llm", "timeoutSeconds"), st.nothing(), st.integers(max_value=0) | st.integers(601)
    ),
    field_values(
        "provider", ("llm", "maxRetries"), st.nothing(), st.integers(max_value=-1) | st.integers(11)
    ),
    field_values(
        "provider",
        ("llm", "apiVersion"),
        st.from_regex(r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9](-preview)?\Z"),
        st.sampled_from(["2024-1-1", "latest", "2024-10-21-beta"]),
    ),
    field_values(
        "provider",
        ("llm", "apiKeySecretRef", "name"),
        DNS_NAME,
        BAD_DNS_NAME,
        reconcilable=False,  # no such Secret
    ),
    # Fallback models, after an OpenAI-compatible primary: valid lists, and one bad item or list.
    field_values(
        "provider",
        ("llm",),
        st.lists(
            st.builds(
                lambda model, url: {"provider": "openai-compatible", "model": model, "baseURL": url},
                st.from_regex(r"\A[a-z0-9][a-z0-9.:-]{0,20}\Z"),
                st.from_regex(r"\Ahttps?://[a-z0-9.-]{1,30}(:[0-9]{2,5})?(/v1)?\Z"),
            ),
            min_size=1,
            max_size=5,
        ).map(lambda fallbacks: {**COMPATIBLE_LLM, "fallbacks": fallbacks}),
        st.nothing(),
    ),
    invalid_only(
        st.sampled_from(
            [
                (
                    [{"provider": "openai-compatible", "baseURL": "http://b/v1"}],
                    "spec.llm.fallbacks[0].model",
                ),
                ([{**FALLBACK, "baseURL": "b.local:8000"}], "spec.llm.fallbacks[0].baseURL"),
                (
                    [FALLBACK, {"provider": "openai-compatible", "model": "m"}],
                    "spec.llm.fallbacks[1].baseURL",
                ),
                ([{"provider": "openai", "model": "m"}], "spec.llm.fallbacks[0].apiKeySecretRef"),
                ([{**FALLBACK, "provider": "offline"}], "spec.llm.fallbacks[0].provider"),
                ([FALLBACK] * 6, "spec.llm.fallbacks"),
            ]
        ).map(
            lambda case: Mutation(
                "provider", ("llm",), {**COMPATIBLE_LLM, "fallbacks": case[0]}, False, case[1]
            )
        )
    ),
    invalid_only(
        st.just(
            Mutation(
                "provider",
                ("llm",),
                {"provider": "offline", "fallbacks": [FALLBACK]},
                False,
                "spec.llm.fallbacks",
            )
        )
    ),
    field_values(
        "top-k", ("retrieval", "topK"), st.integers(1, 50), st.integers(max_value=0) | st.integers(51)
    ),
    field_values(
        "faq",
        ("faq",),
        st.lists(
            st.fixed_dictionaries(
                {
                    "question": st.text(TEXT, min_size=1, max_size=80),
                    "answer": st.text(TEXT, min_size=1, max_size=80),
                }
            ),
            max_size=5,
            unique_by=lambda item: item["question"],
        ),
        st.text(TEXT, min_size=1, max_size=20).map(
            lambda q: [{"question": q, "answer": "one"}, {"question": q, "answer": "two"}]
        )
        | st.just([{"question": "", "answer": "empty question"}])
        | st.just([{"question": "no answer"}]),
    ),
    field_values(
        "service-type",
        ("service", "type"),
        st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        st.sampled_from(["clusterip", "ExternalName", "Headless", ""]),
    ),
    field_values(
        "service-port",
        ("service", "port"),
        st.integers(1, 65535),
        st.integers(max_value=0) | st.integers(65536),
    ),
    field_values("resources", ("resources", "requests", "cpu"), QUANTITY, BAD_QUANTITY),
    field_values(
        "resources", ("resources", "requests", "cpu"), HUGE_QUANTITY, st.nothing(), reconcilable=False
    ),
    field_values("transcript", ("transcriptLog",), st.booleans(), st.sampled_from(["yes", 1, "true"])),
    field_values(
        "corpus",
        ("corpus",),
        st.fixed_dictionaries(
            {
                "repo": st.from_regex(r"\A(https?|git|ssh)://[a-z0-9.-]{1,20}/[a-z0-9/]{1,20}\.git\Z"),
                "ref": st.from_regex(r"\A[a-z0-9][a-z0-9./_-]{0,30}\Z").filter(lambda r: ".." not in r),
                "refreshInterval": DURATION,
                "maxSizeMiB": st.integers(1, 10240),
                "paths": st.lists(st.from_regex(r"\A[a-z*/.]{1,20}\Z"), max_size=5),
            }
        ),
        st.nothing(),
        reconcilable=False,  # no such repository
    ),
    field_values(
        "corpus",
        ("corpus", "repo"),
        st.nothing(),
        st.sampled_from(["not a url", "file:///etc", "https://host/ with space", "ftp://host/repo.git"]),
    ),
    invalid_only(
        st.from_regex(r"\A[a-z]{1,8}:[a-z0-9]{1,8}\Z").map(
            lambda secret: Mutation(
                "corpus",
                ("corpus", "repo"),
                f"https://{secret}@git.example.com/docs.git",
                False,
                "spec.corpus.repo",
            )
        )
    ),
    corpus_with("refreshInterval", TOO_SHORT_DURATION | BAD_DURATION),
    corpus_with("maxSizeMiB", st.integers(max_value=0) | st.integers(10241)),
    corpus_with("ref", st.sampled_from(["a b", "main~1", "x:y", "a^", ""])),
    corpus_with("paths", st.just(["docs/ *.md"]) | st.just(["x"] * 65) | st.just([""])),
    field_values(
        "appconfig",
        ("appConfiguration",),
        st.builds(
            lambda host, every: {"endpoint": f"https://{host}.azconfig.io", "refreshInterval": every},
            DNS_NAME.filter(bool),
            DURATION,
        ),
        st.builds(
            lambda host, name: {
                "endpoint": f"https://{host}.azconfig.io",
                "connectionStringSecretRef": {"name": name},
            },
            DNS_NAME.filter(bool),
            DNS_NAME.filter(bool),
        )
        | st.just({"endpoint": "http://plain.azconfig.io"})
        | st.just({"endpoint": "https://a.azconfig.io", "refreshInterval": "10s"})
        | st.just({"endpoint": "https://a.azconfig.io", "selectors": []}),
        reconcilable=False,  # no such store
    ),
    invalid_only(
        st.builds(
            lambda name, key: Mutation(
                "prompt",
                ("systemPromptFrom",),
                {"configMapKeyRef": {"name": name, "key": key}},
                False,  # next to systemPrompt: exactly one of the two
                "spec.systemPrompt",
            ),
            DNS_NAME.filter(bool),
            st.from_regex(r"\A[-._a-zA-Z0-9]{1,20}\Z"),
        )
    ),
    field_values(
        "tolerations",
        ("tolerations",),
        st.lists(
            st.fixed_dictionaries(
                {"key": st.from_regex(r"\A[a-z]{1,10}\Z"), "operator": st.sampled_from(["Exists", "Equal"])},
                optional={"effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])},
            ),
            max_size=3,
        ),
        st.just([{"key": "a", "operator": "In"}])
        | st.just([{"key": "a", "effect": "Sometimes"}])
        | st.just([{"key": "k"}] * 33),
        reconcilable=False,  # placement changes where kwok's fake nodes can run the pods
    ),
    invalid_only(
        st.sampled_from([(), ("llm",), ("generation",), ("service",)]).flatmap(
            lambda parent: (
                st.from_regex(r"\A[a-z][A-Za-z]{2,12}\Z")
                .filter(lambda key: key not in _known_keys(parent))
                .map(
                    lambda key: Mutation(
                        "unknown-" + ".".join(parent),
                        (*parent, key),
                        "x",
                        False,
                        "spec." + ".".join((*parent, key)),
                    )
                )
            )
        )
    ),
]
VALID_MUTATIONS = st.one_of([valid for valid, _ in MUTATION_TABLE])
INVALID_MUTATIONS = st.one_of([invalid for _, invalid in MUTATION_TABLE])


def _known_keys(parent: tuple[str, ...]) -> set[str]:
    node = SPEC_SCHEMA
    for key in parent:
        node = node["properties"][key]
    return set(node["properties"])


@st.composite
def chatbot_specs(draw: st.DrawFn, valid: bool | None = None) -> tuple[dict[str, Any], list[Mutation]]:
    """A spec with 1-3 mutations of distinct fields; at most one of them invalid."""
    want_invalid = draw(st.booleans()) if valid is None else not valid
    count = draw(st.integers(1, 3))
    mutations: list[Mutation] = []
    groups: set[str] = set()
    if want_invalid:
        bad = draw(INVALID_MUTATIONS)
        mutations.append(bad)
        groups.add(bad.group)
    while len(mutations) < count:
        good = draw(VALID_MUTATIONS.filter(lambda m: m.group not in groups))
        mutations.append(good)
        groups.add(good.group)
    mutations = draw(st.permutations(mutations))
    spec = copy.deepcopy(BASE_SPEC)
    for mutation in mutations:
        mutation.apply(spec)
    return spec, mutations


def _with(*mutations: Mutation) -> tuple[dict[str, Any], list[Mutation]]:
    spec = copy.deepcopy(BASE_SPEC)
    for mutation in mutations:
        mutation.apply(spec)
    return spec, list(mutations)


@pytest.fixture(scope="module")
def api(cluster: Cluster, operator_release: Release) -> client.CustomObjectsApi:
    """An admin client; the chart (operator_release) has installed the CRD."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    return client.CustomObjectsApi(client.ApiClient(configuration))


def submit(
    api: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], *, dry_run: bool
) -> ApiException | None:
    """Creates the ChatBot (or dry-runs it); the API server's refusal, if any."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ChatBot",
        "metadata": {"name": unique_name("gen")},
        "spec": spec,
    }
    try:
        api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            body,
            dry_run="All" if dry_run else None,
            field_validation="Strict",
        )
    except ApiException as error:
        return error
    return None


def message_of(error: ApiException) -> str:
    try:
        return str(json.loads(error.body).get("message", error.body))
    except (TypeError, ValueError):
        return str(error.body)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # No shrinking: every call is a round trip to the API server, and the note names the mutation.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(example=chatbot_specs())
def test_generated_specs_are_rejected_naming_the_field_or_accepted(
    api: client.CustomObjectsApi, namespace: str, example: tuple[dict[str, Any], list[Mutation]]
) -> None:
    spec, mutations = example
    note(f"mutations: {mutations}")
    error = submit(api, namespace, spec, dry_run=True)
    invalid = [m for m in mutations if not m.valid]
    if not invalid:
        assert error is None, f"a valid spec was refused: {message_of(error) if error else ''}"
        return
    assert error is not None, f"an invalid spec was accepted: {invalid[0]}"
    assert error.status in (400, 422), (error.status, message_of(error))
    assert invalid[0].field in message_of(error), message_of(error)


@settings(
    max_examples=RECONCILED,
    deadline=None,
    database=None,
    # No shrinking: every call is a round trip to the API server, and the note names the mutation.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(example=chatbot_specs(valid=True).filter(lambda e: all(m.reconcilable for m in e[1])))
# Found by this test: characters beyond U+FFFF made every apply of the ConfigMap fail.
@example(
    example=_with(
        Mutation("prompt", ("systemPrompt",), 'Ë½ģÂ\U000a7ccd"3{ĺļek𠦚 🙂', True, "spec.systemPrompt")
    )
)
def test_generated_valid_specs_are_reconciled(
    cluster: Cluster,
    api: client.CustomObjectsApi,
    namespace: str,
    operator: LocalOperator,
    request: pytest.FixtureRequest,
    example: tuple[dict[str, Any], list[Mutation]],
) -> None:
    spec, mutations = example
    note(f"mutations: {mutations}")
    name = unique_name("gen")
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ChatBot", "metadata": {"name": name}, "spec": spec}
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict")
    try:
        chatbot = wait_until(
            f"ChatBot {name} to be Ready", lambda: _ready(cluster, namespace, name), timeout=60
        )
        deployment = cluster.get("deployment", name, "-n", namespace)
        assert deployment["spec"]["replicas"] == spec["replicas"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations[SETTINGS_HASH] == chatbot["status"]["config"]["revision"]
        assert cluster.get("service", name, "-n", namespace)["spec"]["type"] == spec["service"]["type"]
        settings_json = cluster.get("configmap", f"{name}-config", "-n", namespace)["data"]
        assert json.loads(next(iter(settings_json.values())))["system_prompt"] == spec["systemPrompt"]
    except AssertionError:
        print_operator_log_on_failure(request, operator)
        raise
    finally:
        cluster.kubectl("delete", "chatbot", name, "-n", namespace, "--wait=false")


def _ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    chatbot: dict[str, Any] = cluster.get("chatbot", name, "-n", namespace)
    ready = condition(chatbot, "Ready") or {}
    generation = chatbot["metadata"]["generation"]
    if (
        ready.get("status") == "True"
        and ready.get("observedGeneration") == generation
        and chatbot.get("status", {}).get("observedGeneration") == generation
    ):
        return chatbot
    return None
