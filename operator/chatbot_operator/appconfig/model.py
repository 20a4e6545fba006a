"""What resolution returns, its revision hash, and the one precedence rule with spec fields."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResolvedAppConfiguration:
    """Settings and secrets from App Configuration (and Key Vault), typed and checked.

    settings: non-secret bot settings keyed by the bot's settings field names.
    secrets: secret values keyed by Secret data key ("llmApiKey").
    unknown_keys: keys (after trimming) outside the vocabulary, for status.
    revision: a stable hash of settings and secrets; equal inputs give equal revisions.
    """

    settings: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)
    unknown_keys: list[str]
    revision: str

    def __repr__(self) -> str:
        # Secret values never appear; their keys do, so a log line still says what was resolved.
        return (
            f"ResolvedAppConfiguration(settings={sorted(self.settings)!r}, "
            f"secrets={sorted(self.secrets)!r} (values redacted), "
            f"unknown_keys={self.unknown_keys!r}, revision={self.revision!r})"
        )

    __str__ = __repr__


def compute_revision(settings: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
    """A 16-hex-digit SHA-256 over canonical JSON of settings and secrets.

    It goes into status and the pod template, so it must not reveal values: each secret is hashed
    on its own first, and the result is a one-way digest of the whole. (An attacker who knew every
    other input could test guesses of a secret against it; API keys are long random strings.)
    """
    document = {
        "settings": settings,
        "secrets": {key: hashlib.sha256(value.encode()).hexdigest() for key, value in secrets.items()},
    }
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def merge_settings(
    spec_settings: Mapping[str, Any], resolved: ResolvedAppConfiguration | None
) -> dict[str, Any]:
    """The bot's settings: spec fields, overridden by App Configuration for the keys it sets.

    The rule: **App Configuration wins** for every setting it provides; spec fields are the
    defaults for everything else. That is what a shared store is for (one place to change a
    setting per environment, without a change to every ChatBot), and it keeps the rule one line.
    Both sides are keyed by the bot's settings field names.
    """
    merged = dict(spec_settings)
    if resolved is not None:
        merged.update(resolved.settings)
    return merged


def overridden_settings(spec_settings: Mapping[str, Any], resolved: ResolvedAppConfiguration) -> list[str]:
    """Spec fields whose value App Configuration replaced (for status or an Event, never values)."""
    settings = resolved.settings
    return sorted(key for key in settings if key in spec_settings and spec_settings[key] != settings[key])
