"""Users' ratings of answers: counted in the metrics and, with `transcript_log`, written to the log.

The bot keeps no conversations, so the page sends back what it was shown (question, answer, mode,
sources) with the rating: the log line can be read on its own, beside the answer lines. A rating is
counted for every request: the page sends one per rated answer.
"""

from __future__ import annotations

from chatbot_server.answering import Transcript
from chatbot_server.errors import BotError
from chatbot_server.schemas import FeedbackRequest
from chatbot_server.state import BotState


def record_feedback(state: BotState, feedback: FeedbackRequest) -> None:
    """Count the rating and log it; a question longer than any message could be is a 400."""
    settings = state.settings
    limit = settings.max_message_chars
    if len(feedback.question) > limit:
        raise BotError(
            400,
            f"The question is {len(feedback.question)} characters long; the limit is {limit}.",
            param="question",
            code="message_too_long",
        )
    state.metrics.feedback.labels(settings.name, feedback.mode, feedback.rating).inc()
    Transcript(settings.name, settings.transcript_log).write("feedback", feedback.model_dump())
