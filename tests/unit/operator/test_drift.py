"""Deciding whether a child needs a write: desired fields contained in what the server holds."""

from decimal import Decimal

import pytest

from chatbot_operator.drift import is_contained, needs_apply, quantity_value


def test_server_defaults_and_other_managers_fields_are_not_drift() -> None:
    desired = {"spec": {"template": {"spec": {"containers": [{"name": "bot", "image": "bot:1"}]}}}}
    actual = {
        "metadata": {"annotations": {"team": "docs"}},  # a user's annotation
        "spec": {
            "replicas": 5,  # an HPA's
            "template": {
                "spec": {"containers": [{"name": "bot", "image": "bot:1", "imagePullPolicy": "IfNotPresent"}]}
            },
        },
    }
    assert not needs_apply(desired, actual)


def test_a_changed_field_we_own_is_drift() -> None:
    desired = {"spec": {"template": {"spec": {"containers": [{"name": "bot", "image": "bot:1"}]}}}}
    actual = {"spec": {"template": {"spec": {"containers": [{"name": "bot", "image": "bot:2"}]}}}}
    assert needs_apply(desired, actual)


def test_missing_object_or_list_length_change_is_drift() -> None:
    assert needs_apply({"a": 1}, None)
    assert needs_apply({"a": [1, 2]}, {"a": [1]})


def test_empty_lists_and_maps_the_server_drops_are_not_drift() -> None:
    assert is_contained({"spec": {"initContainers": [], "nodeSelector": {}}}, {"spec": {}})


@pytest.mark.parametrize(
    ("desired", "actual"),
    [("1000m", "1"), ("0.5", "500m"), ("1024Mi", "1Gi"), ("1e3", "1k"), (2, "2")],
)
def test_quantities_the_server_canonicalises_are_equal(desired: str | int, actual: str) -> None:
    assert is_contained({"cpu": desired}, {"cpu": actual})


def test_quantities_are_read_by_the_kubernetes_client() -> None:
    assert quantity_value("128Mi") == Decimal(128 * 2**20)
    assert quantity_value("50m") == Decimal("0.05")
    assert quantity_value("http") is None
    assert quantity_value("Infinity") is None  # a word, not a quantity


def test_words_that_are_not_quantities_are_compared_as_text() -> None:
    assert needs_apply({"name": "http"}, {"name": "https"})
    assert needs_apply({"name": "inf"}, {"name": "Infinity"})
