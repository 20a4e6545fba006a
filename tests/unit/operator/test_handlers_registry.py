"""The operator's Kopf registry: what `python -m chatbot_operator` registers."""

from chatbot_operator.config import OperatorSettings
from chatbot_operator.handlers import build_registry


def test_the_operator_can_log_in_without_kopfs_default_registry() -> None:
    # A registry of our own lacks Kopf's default login handlers; without one the operator cannot
    # authenticate at all ("Ran out of valid credentials").
    registry = build_registry(OperatorSettings())
    assert registry._activities.get_all_handlers(), "no activity handlers registered"
    ids = [handler.id for handler in registry._activities.get_all_handlers()]
    assert any(id.endswith("login") for id in ids), ids
