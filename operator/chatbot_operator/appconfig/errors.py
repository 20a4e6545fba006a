"""The one error type of App Configuration resolution, with a distinct reason per failure.

The reason becomes the `ConfigResolved` condition's reason and the Event's reason; the message
becomes their message. Both are built here from keys, labels, endpoints and status codes only:
never from a setting's value, a secret, a connection string, or an SDK exception's text (which may
echo request details).
"""

from typing import Final

# Reasons, CamelCase (Kubernetes condition reasons). Each names one thing the user must fix.
INVALID_SPEC: Final = "InvalidSpec"
CONNECTION_STRING_SECRET_NOT_FOUND: Final = "ConnectionStringSecretNotFound"
INVALID_CONNECTION_STRING: Final = "InvalidConnectionString"
STORE_UNREACHABLE: Final = "StoreUnreachable"
AUTHENTICATION_FAILED: Final = "AuthenticationFailed"
ACCESS_DENIED: Final = "AccessDenied"
KEY_VAULT_REFERENCE_UNRESOLVED: Final = "KeyVaultReferenceUnresolved"
INVALID_VALUE: Final = "InvalidValue"

REASONS: Final = frozenset(
    {
        INVALID_SPEC,
        CONNECTION_STRING_SECRET_NOT_FOUND,
        INVALID_CONNECTION_STRING,
        STORE_UNREACHABLE,
        AUTHENTICATION_FAILED,
        ACCESS_DENIED,
        KEY_VAULT_REFERENCE_UNRESOLVED,
        INVALID_VALUE,
    }
)


class AppConfigurationError(Exception):
    """Settings could not be resolved; `reason` says which kind of failure, `message` what to do."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown App Configuration failure reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"AppConfigurationError(reason={self.reason!r}, message={self.message!r})"

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"
