"""Optional bearer API keys: every file in `api_keys_dir` (a mounted Secret) holds one key.

Kubernetes updates a mounted Secret in place, so the directory is re-read when it changes (checked
at most every RELOAD_SECONDS); a key added to or removed from the Secret takes effect without a
restart. A key's name (its file name: the key's name in the Secret) labels the usage it is charged
for; the value never leaves this module.
"""

from __future__ import annotations

import hmac
import logging
import time
from pathlib import Path

from chatbot_server.errors import BotError

log = logging.getLogger(__name__)

RELOAD_SECONDS = 10.0
MAX_KEY_BYTES = 4096
# The key name of requests to a bot without API keys (usage metrics).
ANONYMOUS = "anonymous"


def read_api_keys(directory: Path | None) -> dict[str, bytes]:
    """The keys in the directory, by name: one per regular file, surrounding whitespace removed.

    Hidden entries (the `..data` links of a Secret volume) are skipped. A missing directory means
    no keys, hence no authentication.
    """
    if directory is None or not directory.is_dir():
        return {}
    keys: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            key = path.read_bytes()[:MAX_KEY_BYTES].strip()
        except OSError as error:
            log.warning("cannot read API key file %s: %s", path.name, error.strerror)
            continue
        if key:
            keys[path.name] = key
    return keys


class ApiKeys:
    """The accepted keys, reloaded when the directory changes."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._keys = read_api_keys(directory)
        self._checked = time.monotonic()
        self._stamp = self._directory_stamp()

    @property
    def required(self) -> bool:
        self._reload_if_changed()
        return bool(self._keys)

    def _directory_stamp(self) -> float:
        if self.directory is None:
            return 0.0
        try:
            return self.directory.stat().st_mtime
        except OSError:
            return 0.0

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if self.directory is None or now - self._checked < RELOAD_SECONDS:
            return
        self._checked = now
        stamp = self._directory_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self._keys = read_api_keys(self.directory)
            log.info("reloaded API keys from %s: %d keys", self.directory, len(self._keys))

    def check(self, authorization: str | None) -> str:
        """The name of the key the Authorization header carries (ANONYMOUS when the bot needs none);
        a 401 BotError unless it carries an accepted key."""
        if not self.required:
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BotError(
                401,
                "This bot requires an API key: send it as 'Authorization: Bearer <key>'.",
                type="authentication_error",
                code="missing_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        presented = token.strip().encode()
        # Compare with every key, without stopping early, so timing does not reveal which matched.
        matched: str | None = None
        for name, key in self._keys.items():
            if hmac.compare_digest(presented, key):
                matched = name
        if matched is None:
            raise BotError(
                401,
                "The API key is not valid for this bot.",
                type="authentication_error",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return matched
