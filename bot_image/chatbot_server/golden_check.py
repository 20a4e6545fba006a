"""`python -m chatbot_server.golden_check`: ask the bot's golden questions before the pod serves.

The operator runs it as the second init container of a ChatBot that has golden questions, after
the corpus fetch, with the bot container's settings, corpus, LLM key and network (the pod's
NetworkPolicy applies to it as to the bot). It builds the same bot the server would (same index,
same prompt, same LLM client) and asks every golden question through the JSON API's own answering
code. All pass: exit 0 and the bot container starts. One fails: it writes
`GoldenQuestionsFailed: <the question, what was expected, the answer given>` to the termination
log and exits 1, so the pod never turns Ready and, with the Deployment's maxUnavailable 0, the
previous revision keeps serving. The operator reads the message back into the ChatBot's status.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import chatbot_contract as contract
from chatbot_contract.termination import write_termination_message
from chatbot_server import chat_api
from chatbot_server.golden import GivenAnswer, GoldenFailure, check_answer, summarize
from chatbot_server.schemas import ApiMessage, ChatRequest
from chatbot_server.settings import Settings, SettingsError, load_settings
from chatbot_server.state import BotState

FAILED = "GoldenQuestionsFailed"
# The check could not run (bad settings, an unreadable corpus): not a verdict on the answers.
CHECK_ERROR = "GoldenQuestionsError"
GOLDEN_KEY_LABEL = "golden-questions"
log = logging.getLogger("chatbot_server.golden_check")


async def ask_golden_questions(settings: Settings) -> list[GoldenFailure]:
    """Ask each golden question as a user would, one conversation each; the failures."""
    state = BotState.create(settings)
    state.hand_over_vectors = True
    # An outage of the provider's embeddings: asked with keyword search now, not after the outage
    # (the rollout waits on this check; the bot container tries the provider again itself).
    state.retry_embeddings = False
    state.open_client()
    try:
        await state.prepare()
        if state.embedding is not None:
            # Asked with the search the bot will serve: hybrid needs the chunk vectors, which are
            # then left for the bot container (vector_cache.py) instead of computed twice.
            await state.embedding
        bot = state.ready_bot()
        failures: list[GoldenFailure] = []
        for golden in settings.golden_questions:
            request = ChatRequest(messages=[ApiMessage(role="user", content=golden.question)], stream=False)
            # Counted as the init container's own usage (its metrics go with its process).
            account = state.usage.account(chat_api.API, GOLDEN_KEY_LABEL)
            reply = await chat_api.answer(bot, state.models, request, account)
            match = bot.faq.match(golden.question)
            text = reply.answer if reply.error is None else f"{reply.answer} [the LLM failed: {reply.error}]"
            given = GivenAnswer(text, reply.mode, tuple(source.path for source in reply.sources))
            failure = check_answer(golden, given, match.entry.answer if match else None)
            log.info("golden question %r: %s", golden.question, "failed" if failure else "passed")
            if failure is not None:
                failures.append(failure)
        return failures
    finally:
        await state.close()


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    termination_log = Path(env.get(contract.GOLDEN_TERMINATION_LOG_ENV) or contract.TERMINATION_LOG)
    try:
        settings = load_settings()
        failures = asyncio.run(ask_golden_questions(settings)) if settings.golden_questions else []
    except SettingsError as error:
        write_termination_message(termination_log, CHECK_ERROR, str(error))
        print(f"golden_check: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the bot could not be built: say so, without a traceback in status
        write_termination_message(termination_log, CHECK_ERROR, f"the bot could not start: {error}")
        log.exception("golden questions could not be asked")
        return 2
    if failures:
        message = summarize(failures, len(settings.golden_questions))
        write_termination_message(termination_log, FAILED, message)
        print(f"golden_check: {message}", file=sys.stderr)
        return 1
    log.info("all %d golden questions passed", len(settings.golden_questions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
