# syntax=docker/dockerfile:1
# One Dockerfile, one target per image:
#   docker build --target bot -t chatbot-bot .           the bot server (and the corpus init container)
#   docker build --target operator -t chatbot-operator . the operator
# Both run as a non-root user on a read-only root filesystem, with /tmp as their only writable path.

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
ENV TIKTOKEN_CACHE_DIR=/opt/chatbot/tiktoken
RUN python -c "from pathlib import Path; from chatbot_server.tokens import seed_cache; seed_cache(Path('/opt/chatbot/tiktoken'))" \
 && python -c "import tiktoken; tiktoken.get_encoding('o200k_base'); tiktoken.get_encoding('cl100k_base')" \
 && chmod -R a+rX /opt/chatbot
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["python", "-m", "chatbot_server"]
