"""Settings and secrets for a ChatBot from Azure App Configuration and Key Vault.

See docs/app-configuration.md. The reconcile reads the connection string Secret (if any), calls
`resolve_app_configuration` (or `AppConfigurationCache.resolve`), merges with `merge_settings`,
and on AppConfigurationError keeps the last good children and reports `error.reason`.
"""

from chatbot_operator.appconfig.errors import REASONS, AppConfigurationError
from chatbot_operator.appconfig.keyvault import KeyVaultOptions
from chatbot_operator.appconfig.model import (
    ResolvedAppConfiguration,
    compute_revision,
    merge_settings,
    overridden_settings,
)
from chatbot_operator.appconfig.resolver import (
    AppConfigurationCache,
    parse_connection_string,
    resolve_app_configuration,
)
from chatbot_operator.appconfig.spec import AppConfigurationSpec, parse_app_configuration_spec
from chatbot_operator.appconfig.vocabulary import LLM_API_KEY_SECRET_KEY, VOCABULARY

__all__ = [
    "LLM_API_KEY_SECRET_KEY",
    "REASONS",
    "VOCABULARY",
    "AppConfigurationCache",
    "AppConfigurationError",
    "AppConfigurationSpec",
    "KeyVaultOptions",
    "ResolvedAppConfiguration",
    "compute_revision",
    "merge_settings",
    "overridden_settings",
    "parse_app_configuration_spec",
    "parse_connection_string",
    "resolve_app_configuration",
]
