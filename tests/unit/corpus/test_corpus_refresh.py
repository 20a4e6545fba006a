"""Durations and when the ref is due to be resolved again."""

from datetime import UTC, datetime, timedelta

import pytest

from chatbot_operator.corpus import corpus_refresh_due, is_commit_sha
from chatbot_operator.durations import parse_duration

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_parse_duration_reads_go_style_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "10 m", "-5m", "1h 30m", "5x"])
def test_parse_duration_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_refresh_is_due_when_never_checked() -> None:
    assert corpus_refresh_due(None, "10m", NOW)
    assert corpus_refresh_due("", "10m", NOW)


def test_refresh_is_not_due_within_the_interval() -> None:
    assert not corpus_refresh_due("2025-06-01T11:55:00Z", "10m", NOW)


def test_refresh_is_due_once_the_interval_has_passed() -> None:
    assert corpus_refresh_due("2025-06-01T11:50:00Z", "10m", NOW)
    assert corpus_refresh_due("2025-06-01T11:49:59+00:00", "10m", NOW)


def test_unreadable_check_time_means_check_now() -> None:
    assert corpus_refresh_due("yesterday", "10m", NOW)


def test_full_shas_are_pinned_and_anything_shorter_is_a_ref() -> None:
    assert is_commit_sha("a" * 40)
    assert is_commit_sha("0123456789ABCDEF0123456789abcdef01234567")
    assert is_commit_sha("b" * 64)
    assert not is_commit_sha("1a2b3c4")
    assert not is_commit_sha("main")
