"""Names and labels of a ChatBot's children: the one place that decides them."""

from typing import Final

from chatbot_operator.api import FIELD_MANAGER, GROUP

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"

APP_NAME: Final = "chatbot"

# Pod template annotations: a change of either rolls the pods, no change rolls nothing.
ANNOTATION_SETTINGS_HASH: Final = f"{GROUP}/settings-hash"
ANNOTATION_CORPUS_COMMIT: Final = f"{GROUP}/corpus-commit"
# On every child: a hash of the manifest we applied, so a field we stop setting is noticed.
ANNOTATION_APPLIED_HASH: Final = f"{GROUP}/applied-hash"


def selector_labels(name: str) -> dict[str, str]:
    """Labels that select one ChatBot's pods; immutable once a Deployment exists."""
    return {LABEL_NAME: APP_NAME, LABEL_INSTANCE: name}


def child_labels(name: str) -> dict[str, str]:
    return {**selector_labels(name), LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_COMPONENT: "bot"}


def selector_string(name: str) -> str:
    return ",".join(f"{key}={value}" for key, value in selector_labels(name).items())


def deployment_name(name: str) -> str:
    return name


def service_name(name: str) -> str:
    return name


def config_map_name(name: str) -> str:
    return f"{name}-config"


def revisions_config_map_name(name: str) -> str:
    """The ConfigMap of a ChatBot's restore documents (chatbot_operator.revisions)."""
    return f"{name}-revisions"


def secret_name(name: str) -> str:
    return f"{name}-secrets"


def network_policy_name(name: str) -> str:
    return name
