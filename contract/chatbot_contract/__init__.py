"""The contract between the operator and the bot: names and paths both sides use.

This package is what `chatbot_operator` and `chatbot_server` share: these names, and the git
plumbing of the corpus (`corpus_git`, `corpus_errors`). It depends on neither side and on nothing
outside the standard library (rules in pyproject.toml's [tool.importlinter], checked by
`make lint`), so the operator's image needs none of the bot's code.

The operator's builders render exactly these environment variables and mount points, and the
bot's settings read exactly these; a contract test renders a Deployment with the operator and
loads it with the bot's settings. Both sides import it as `import chatbot_contract as contract`.
"""

from typing import Final

ENV_PREFIX: Final = "CHATBOT_"

# Non-secret settings: one JSON document (keys are the bot's settings field names), rendered by
# the operator into the ChatBot's ConfigMap under CONFIG_FILE_KEY and mounted at CONFIG_DIR.
CONFIG_FILE_ENV: Final = "CHATBOT_CONFIG_FILE"
CONFIG_DIR: Final = "/etc/chatbot/config"
CONFIG_FILE_KEY: Final = "settings.json"
CONFIG_FILE: Final = f"{CONFIG_DIR}/{CONFIG_FILE_KEY}"

# The LLM API key. In a pod: one key of a Secret, mounted as the file LLM_API_KEY_FILE (never in the
# ConfigMap, never an environment variable): the kubelet updates a mounted Secret in place, and the
# bot reads the file again while it runs, so a rotated key reaches running pods without a restart.
# LLM_API_KEY_ENV is for running the bot by hand.
LLM_API_KEY_ENV: Final = "CHATBOT_LLM_API_KEY"
LLM_API_KEY_FILE_ENV: Final = "CHATBOT_LLM_API_KEY_FILE"
LLM_API_KEY_DIR: Final = "/etc/chatbot/llm-api-key"
LLM_API_KEY_FILE_NAME: Final = "apiKey"
LLM_API_KEY_FILE: Final = f"{LLM_API_KEY_DIR}/{LLM_API_KEY_FILE_NAME}"

# The keys of the fallback models (spec.llm.fallbacks), each one key of its Secret, mounted as the
# file LLM_FALLBACK_KEYS_DIR/<n> (n: the fallback's position, from 0) by one projected volume, and
# read again while the bot runs, as the primary's. Named in settings.json by each fallback's
# api_key_file (a path, never a key).
LLM_FALLBACK_KEYS_DIR: Final = "/etc/chatbot/llm-fallback-keys"


def llm_fallback_key_file(position: int) -> str:
    """Where the key of the fallback at this position (from 0) is mounted."""
    return f"{LLM_FALLBACK_KEYS_DIR}/{position}"


# Bearer keys accepted by the bot's JSON and OpenAI endpoints: every file in this directory
# (a mounted Secret) holds one key. Unset or empty directory: no authentication.
API_KEYS_DIR_ENV: Final = "CHATBOT_API_KEYS_DIR"
API_KEYS_DIR: Final = "/etc/chatbot/api-keys"

# The corpus, fetched by the init container into a volume shared with the bot.
CORPUS_DIR_ENV: Final = "CHATBOT_CORPUS_DIR"
CORPUS_DIR: Final = "/var/lib/chatbot/corpus"
# The sentence-embedding model baked into the bot image (hack/fetch-embedding-model.py).
EMBEDDING_MODEL_DIR_ENV: Final = "CHATBOT_EMBEDDING_MODEL_DIR"
EMBEDDING_MODEL_DIR: Final = "/opt/chatbot/embedding-model"

# Where the bot listens. The Service targets the named port.
PORT_ENV: Final = "CHATBOT_PORT"
PORT: Final = 8080
PORT_NAME: Final = "http"

# Shutdown. The preStop hook keeps the pod serving while endpoints stop routing to it; on SIGTERM
# the bot then stops accepting and lets open streams finish for up to DRAIN_SECONDS; the grace
# period covers both, with a margin, before the kubelet's SIGKILL.
PRE_STOP_SECONDS: Final = 5
DRAIN_SECONDS: Final = 10
TERMINATION_GRACE_SECONDS: Final = 30

# Probe paths.
LIVENESS_PATH: Final = "/healthz"
READINESS_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"

# Writable scratch space (the root filesystem is read-only).
TMP_DIR: Final = "/tmp"
# In a pod with golden questions, the init container that asks them leaves the corpus's chunk
# vectors here (in the pod's /tmp volume, which the bot container mounts too), so that the bot
# starts with them instead of computing them again.
VECTORS_DIR_ENV: Final = "CHATBOT_VECTORS_DIR"
VECTORS_DIR: Final = f"{TMP_DIR}/chatbot-vectors"
# Threads the golden check embeds the corpus on with the bundled model: the operator gives its
# container's CPU limit (rounded up) through the downward API; the bot server embeds on one.
EMBEDDING_THREADS_ENV: Final = "CHATBOT_EMBEDDING_THREADS"

# The corpus init container (`python -m chatbot_server.corpus_fetch`): what to fetch, set by the
# operator's builder. The destination is CORPUS_DIR_ENV, as for the bot.
CORPUS_REPO_ENV: Final = "CHATBOT_CORPUS_REPO"
CORPUS_COMMIT_ENV: Final = "CHATBOT_CORPUS_COMMIT"
CORPUS_PATHS_ENV: Final = "CHATBOT_CORPUS_PATHS"  # JSON list of paths or globs; [] means everything
CORPUS_MAX_SIZE_ENV: Final = "CHATBOT_CORPUS_MAX_SIZE_BYTES"
CORPUS_FETCH_TIMEOUT_ENV: Final = "CHATBOT_CORPUS_FETCH_TIMEOUT_SECONDS"
# A mounted Secret (keys: username, token or password; ssh-privatekey, known_hosts). Unset: public.
CORPUS_CREDENTIALS_DIR_ENV: Final = "CHATBOT_CORPUS_CREDENTIALS_DIR"
CORPUS_CREDENTIALS_DIR: Final = "/etc/chatbot/corpus-credentials"
# Where the fetch writes "<Reason>: <message>" when it fails; the operator reads it back from the
# init container's terminated state.
CORPUS_TERMINATION_LOG_ENV: Final = "CHATBOT_CORPUS_TERMINATION_LOG"
TERMINATION_LOG: Final = "/dev/termination-log"

# The golden-questions init container (`python -m chatbot_server.golden_check`), added only to pods of
# ChatBots with golden questions: it runs with the bot container's settings and writes
# "<Reason>: <message>" here when a golden question fails, as the corpus fetch does.
GOLDEN_TERMINATION_LOG_ENV: Final = "CHATBOT_GOLDEN_TERMINATION_LOG"
