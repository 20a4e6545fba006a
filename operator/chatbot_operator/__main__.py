"""`python -m chatbot_operator`: run the operator with settings from flags and environment."""

import logging
import os
import random
import sys

import kopf

from chatbot_operator.config import OperatorSettings, SettingsError
from chatbot_operator.handlers import build_registry
from chatbot_operator.metrics import serve_metrics


def configure_logging(settings: OperatorSettings) -> None:
    log_format = kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(log_format=log_format)
    logging.getLogger().setLevel(settings.log_level)


def main() -> None:
    try:
        settings = OperatorSettings.from_sources(os.environ, sys.argv[1:])
    except SettingsError as error:
        sys.exit(f"chatbot-operator: {error}")
    configure_logging(settings)
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.liveness_host)
    kopf.run(
        registry=build_registry(settings),
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        # Kopf pauses every operator that sees a peer of equal priority; distinct random priorities
        # make the highest one active and the others warm standbys that take over when it goes.
        priority=random.randint(1, 1_000_000) if settings.peering else None,
        liveness_endpoint=f"http://{settings.liveness_host}:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
