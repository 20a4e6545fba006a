"""Kopf handlers: thin adapters from events to the one reconcile path.

Handlers are registered on a registry built for given operator settings (the refresh loop's
interval is a setting), so tests can run the operator in-process with their own settings.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from chatbot_operator import corpus, golden, naming
from chatbot_operator.api import FIELD_MANAGER, GROUP, PLURAL, VERSION
from chatbot_operator.config import OperatorSettings
from chatbot_operator.kube import KubeClient, KubeError
from chatbot_operator.metrics import RECONCILE_SECONDS, RECONCILES
from chatbot_operator.reconcile import Reconciler
from chatbot_operator.refresh import ChatBotCache, refresh_due_chatbots, snapshot

MANAGED_SELECTOR = f"{naming.LABEL_MANAGED_BY}={FIELD_MANAGER}"
CHILD_RESOURCES = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("", "v1", "secrets"),
)
# Watched only when the operator creates them: without the setting the chart grants no rights on them.
NETWORK_POLICIES = ("networking.k8s.io", "v1", "networkpolicies")
# Threads for Kopf's sync handlers: enough to reconcile many ChatBots at once.
WORKER_THREADS = 16
# Objects per list request when a watch starts (see configure).
LIST_CHUNK_SIZE = 100
RETRY_DELAY_SECONDS = 10
# A conflict means someone wrote the ChatBot since we read it: read again soon.
CONFLICT_RETRY_DELAY_SECONDS = 1
logger = logging.getLogger(__name__)


def _reconcile(reconciler: Reconciler, body: Mapping[str, Any], *, new: bool = False) -> None:
    try:
        with RECONCILE_SECONDS.time():
            reconciler.reconcile(body, new=new)
        RECONCILES.labels(outcome="success").inc()
    except KubeError as error:
        RECONCILES.labels(outcome="error").inc()
        if error.retryable:
            # Conflicts, throttling and API hiccups: Kopf retries later, no sleeping here.
            delay = CONFLICT_RETRY_DELAY_SECONDS if error.status == 409 else RETRY_DELAY_SECONDS
            raise kopf.TemporaryError(f"Kubernetes API: {error}", delay=delay) from error
        raise


def _corpus_failed(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> bool:
    """Whether a pod event reports a failed init container (the corpus fetch, the golden questions).

    A filter, run in Kopf's event loop: the many routine pod events (scheduled, started, ready) of
    a large fleet then cost no worker thread, no handler run and no log line (docs/benchmarks.md).
    """
    return event["type"] != "DELETED" and (
        corpus.corpus_failure_from_pod(body) is not None or golden.golden_failure_from_pod(body) is not None
    )


def build_registry(
    operator_settings: OperatorSettings, kube: KubeClient | None = None
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    chatbots: ChatBotCache = {}
    children: tuple[tuple[str, str, str], ...] = CHILD_RESOURCES
    if operator_settings.bot_network_policy is not None:
        children = (*children, NETWORK_POLICIES)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
        # Progress and diff-base live in status, not annotations: a long system prompt or FAQ
        # would overflow the 256 KiB annotation limit.
        settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
        settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffBase")
        # After Kopf stores the diff-base, events older than that write are held until it shows up.
        # Past the 5 s default (a busy API server, a fleet being created), Kopf took a stale event
        # for an unhandled creation, ran the handler again, hit a 409 and left a retry record in
        # status that the next operator start had to clean up: a write on every restart.
        settings.persistence.consistency_timeout = 60
        # Only our own Events and warnings, not one Event per successful handler.
        settings.posting.level = logging.WARNING
        settings.execution.max_workers = WORKER_THREADS
        # By default Kopf lists each watched kind in one response: at a start over 1,000 ChatBots,
        # their 4,000 children and pods at once, which set the operator's peak memory (226 MiB,
        # 124 MiB in chunks of 100; docs/benchmarks.md). Kopf's worker_limit made it worse: idle
        # workers hold their slots for seconds while the queued events wait, in memory.
        settings.watching.chunk_size = LIST_CHUNK_SIZE
        # Watches are restarted by the server every few minutes, so a lost watch is noticed.
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 30
        # Children are watched only through our label, filtered by the API server.
        for group, _version, plural in (*children, ("", "v1", "pods")):
            settings.watching.label_selectors[group, plural] = MANAGED_SELECTOR
        # Watching named namespaces needs no namespace scan, and the chart grants no right to list
        # namespaces: Kopf would retry the forbidden list for about a minute before every start.
        # Scanning off also fixes the watched resources at startup (the chart installs the CRD first).
        settings.scanning.disabled = bool(operator_settings.namespaces)
        settings.peering.standalone = not operator_settings.peering
        if operator_settings.peering:
            settings.peering.name = operator_settings.peering
        # A connection per worker thread, and one for the refresh loop's thread.
        client = kube or KubeClient.from_environment(pool_size=WORKER_THREADS + 1)
        # Events go through our own client: the refresh loop runs outside Kopf's per-object tasks,
        # where kopf.event() has no queue to post to.
        reconciler = Reconciler(client, operator_settings, post_event=client.post_event)
        memo.reconciler = reconciler
        # One loop refreshes every ChatBot whose corpus or App Configuration is due. Not a Kopf
        # timer: timers put a finalizer on every ChatBot, and deletion must not depend on us.
        memo.refresher = asyncio.create_task(
            refresh_due_chatbots(
                chatbots,
                operator_settings.refresh_check_seconds,
                is_due=reconciler.refresh_is_due,
                reconcile=reconciler.reconcile_latest,
            )
        )

    @kopf.on.cleanup(registry=registry)
    async def stop_refreshing(memo: kopf.Memo, **_: Any) -> None:
        memo.refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await memo.refresher

    if kube is None:
        # A registry of our own has none of Kopf's default login handlers: log in the way our own
        # API client does (in-cluster service account, else $KUBECONFIG), with the official client.
        @kopf.on.login(registry=registry)
        def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
            info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
            return info

    # Not a Kopf index: Kopf holds back every watched object (pods, Deployments...) until all its
    # indexes are filled, and that wait grows with the square of the objects: minutes at the start
    # of an operator over 1,000 ChatBots (docs/benchmarks.md). A child seen before its owner is
    # skipped; the owner's resume reconcile reads it anyway.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def remember(
        event: kopf.RawEvent, namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> None:
        if event["type"] == "DELETED":
            chatbots.pop((namespace or "", name), None)
        else:
            chatbots[namespace or "", name] = snapshot(body)

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry)
    def reconcile(body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
        _reconcile(memo.reconciler, body, new=reason == kopf.Reason.CREATE)

    @kopf.on.delete(GROUP, VERSION, PLURAL, optional=True, registry=registry)
    def forget(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
        # optional=True: no finalizer; children go with their owner through the garbage collector.
        memo.reconciler.forget(namespace or "", name)

    for group, version, plural in children:

        @kopf.on.event(
            group, version, plural, labels={naming.LABEL_MANAGED_BY: FIELD_MANAGER}, registry=registry
        )
        def child_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
            metadata = body.get("metadata", {})
            key = (metadata.get("namespace", ""), metadata.get("labels", {}).get(naming.LABEL_INSTANCE, ""))
            chatbot = chatbots.get(key)
            if chatbot is None:
                return  # the owner is gone (garbage collection) or not ours to manage
            reconciler: Reconciler = memo.reconciler
            try:
                if event["type"] == "DELETED":
                    if not chatbot["metadata"].get("deletionTimestamp"):
                        reconciler.reconcile_latest(*key)  # deleted by hand: put it back
                    return
                reconciler.repair_child(dict(body))
                if body.get("kind") == "Deployment":
                    reconciler.update_status_from_deployment(key[0], key[1], dict(body))
            except KubeError as error:
                if not error.retryable:
                    raise
                # Kopf never retries an event handler (a TemporaryError here would only be logged),
                # and this event will not come again: the refresh loop reconciles the ChatBot.
                reconciler.refresh.retry_later(*key)
                logger.warning(
                    "ChatBot %s/%s: work for a change of its %s failed (%s); the refresh loop retries",
                    key[0], key[1], body.get("kind", "child"), error,
                )  # fmt: skip

    @kopf.on.event(
        "", "v1", "pods",
        labels={naming.LABEL_MANAGED_BY: FIELD_MANAGER}, when=_corpus_failed, registry=registry,
    )  # fmt: skip
    def pod_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        # Failures only the init containers see (corpus too large, a golden question) reach status here.
        metadata = body.get("metadata", {})
        owner = metadata.get("labels", {}).get(naming.LABEL_INSTANCE, "")
        memo.reconciler.report_corpus_failure(metadata.get("namespace", ""), owner, dict(body))
        memo.reconciler.report_golden_failure(metadata.get("namespace", ""), owner, dict(body))

    return registry
