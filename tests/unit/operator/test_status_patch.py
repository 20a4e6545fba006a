"""The status patch removes what is no longer reported, at any depth (a merge patch keeps what it
does not name): App Configuration removed from a spec leaves no stale resolvedAt or unknownKeys."""

from chatbot_operator.reconcile import _merge_patch


def test_keys_no_longer_reported_are_removed_at_any_depth() -> None:
    old = {
        "model": "gpt-4o",
        "config": {"revision": "a1", "resolvedAt": "2026-11-22T03:00:00Z", "unknownKeys": ["colour"]},
        "corpus": {"commit": "c1", "fetchFailure": {"reason": "RefNotFound"}},
    }
    new = {"config": {"revision": "b2"}, "corpus": {"commit": "c1"}}
    assert _merge_patch(old, new) == {
        "model": None,
        "config": {"revision": "b2", "resolvedAt": None, "unknownKeys": None},
        "corpus": {"commit": "c1", "fetchFailure": None},
    }


def test_lists_and_new_keys_are_written_whole() -> None:
    old = {"conditions": [{"type": "Ready", "status": "False"}]}
    new = {"conditions": [{"type": "Ready", "status": "True"}], "config": {"revision": "b2"}}
    assert _merge_patch(old, new) == new
