"""Key Vault references of App Configuration: how they are read, and the errors that name them.

Messages are built from the key, the vault and status codes only, never from values or SDK
exception text.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import KeyVaultSecretIdentifier, SecretClient

from chatbot_operator.appconfig.errors import KEY_VAULT_REFERENCE_UNRESOLVED, AppConfigurationError


@dataclass(frozen=True)
class KeyVaultOptions:
    """How Key Vault references are resolved.

    credential: for Key Vault; default: the App Configuration credential if one was given, else
        DefaultAzureCredential (workload identity on AKS).
    api_version: pin the Key Vault API version (emulators know fewer versions than the SDK).
    connection_verify: True, or a CA bundle path (tests trust their own CA this way).
    verify_challenge_resource: whether the vault's auth challenge must name a vault.azure.net-style
        resource on the vault's own domain; only tests against a local vault turn it off.
    """

    credential: Any | None = None
    api_version: str | None = None
    connection_verify: bool | str = True
    verify_challenge_resource: bool = True
    retry_total: int = 2


class KeyVaultSecretResolver:
    """The provider's secret_resolver: reads one Key Vault secret, or raises a precise error.

    `describe(uri)` names the App Configuration key behind a secret URI, for messages."""

    def __init__(self, options: KeyVaultOptions, credential: Any, describe: Callable[[str], str]) -> None:
        self._options = options
        self._credential = credential
        self._describe = describe
        self._clients: dict[str, SecretClient] = {}
        self._lock = threading.Lock()

    def _client(self, vault_url: str) -> SecretClient:
        with self._lock:
            if vault_url not in self._clients:
                kwargs: dict[str, Any] = {
                    "verify_challenge_resource": self._options.verify_challenge_resource,
                    "connection_verify": self._options.connection_verify,
                    "retry_total": self._options.retry_total,
                }
                if self._options.api_version:
                    kwargs["api_version"] = self._options.api_version
                self._clients[vault_url] = SecretClient(vault_url, self._credential, **kwargs)
            return self._clients[vault_url]

    def __call__(self, uri: str) -> str:
        what = self._describe(uri)
        try:
            identifier = KeyVaultSecretIdentifier(uri)
        except ValueError:
            raise AppConfigurationError(
                KEY_VAULT_REFERENCE_UNRESOLVED,
                f"Key Vault reference {what} is not a secret URI (https://<vault>/secrets/<name>[/<version>])",
            ) from None
        secret = f"secret {identifier.name!r} in {identifier.vault_url}"
        try:
            value = self._client(identifier.vault_url).get_secret(identifier.name, identifier.version).value
        except ResourceNotFoundError:
            detail = f"{secret} does not exist (or that version does not)"
        except ClientAuthenticationError as error:
            if error.status_code is None:
                vault = identifier.vault_url
                detail = f"no Azure credential got a token for {vault}; set up workload identity"
            else:
                detail = f"{identifier.vault_url} refused the credential (HTTP {error.status_code})"
        except HttpResponseError as error:
            if error.status_code == 403:
                detail = f"access to {secret} denied; grant the identity the Key Vault Secrets User role"
            else:
                detail = f"{identifier.vault_url} answered HTTP {error.status_code} for {secret}"
        except (ServiceRequestError, ServiceResponseError):
            detail = f"could not reach {identifier.vault_url}"
        except AzureError as error:
            detail = f"reading {secret} failed ({type(error).__name__})"
        except ValueError:
            # azure-keyvault raises ValueError when the vault's auth challenge names a resource
            # outside the vault's own domain: it refuses to hand that host a token.
            detail = (
                f"{identifier.vault_url} asked for a token of another domain; the SDK refused to send "
                "one (a vault must be on its cloud's Key Vault domain)"
            )
        else:
            if value:
                return value
            detail = f"{secret} has no value"
        raise AppConfigurationError(KEY_VAULT_REFERENCE_UNRESOLVED, f"Key Vault reference {what}: {detail}")

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
