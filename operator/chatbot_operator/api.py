"""The ChatBot API's identity: group, version and names, defined once.

crds/ holds the CustomResourceDefinition; a unit test checks it against these constants.
"""

from typing import Final

GROUP: Final = "chatbot-operator.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ChatBot"
PLURAL: Final = "chatbots"
SINGULAR: Final = "chatbot"
SHORT_NAMES: Final = ("cb",)
CATEGORIES: Final = ("ai",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# The field manager for server-side apply and the value of app.kubernetes.io/managed-by.
FIELD_MANAGER: Final = "chatbot-operator"
