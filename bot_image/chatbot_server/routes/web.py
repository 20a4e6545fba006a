"""The chat page: `GET /` and its static files, all served by the bot (no CDN)."""

from __future__ import annotations

import html
import json
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chatbot_server.dependencies import State
from chatbot_server.settings import Settings

router = APIRouter(tags=["web"])

STATIC_DIR = resources.files("chatbot_server") / "static"


class PageRenderer:
    """The page with the bot's name and greeting filled in, rendered once per auth variant."""

    def __init__(self, settings: Settings) -> None:
        template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        self._pages = {
            required: template.replace("{{name}}", html.escape(settings.name))
            .replace("{{greeting}}", html.escape(settings.greeting_text))
            .replace(
                "{{config}}",
                # "</" cannot end the script element that holds the JSON.
                json.dumps(
                    {
                        "name": settings.name,
                        "greeting": settings.greeting_text,
                        "authRequired": required,
                        "maxMessageChars": settings.max_message_chars,
                        "maxMessages": settings.max_messages,
                    }
                ).replace("</", "<\\/"),
            )
            for required in (False, True)
        }

    def render(self, auth_required: bool) -> str:
        return self._pages[auth_required]


# The page loads and talks to nothing but the bot. Should anything get past the sanitiser into an
# answer, the browser still refuses to run it or to send data elsewhere. Framing stays allowed: bot
# owners embed the page in their sites.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/", response_class=HTMLResponse, summary="The chat page")
async def page(request: Request, state: State) -> HTMLResponse:
    renderer: PageRenderer = request.app.state.page
    return HTMLResponse(renderer.render(state.api_keys.required), headers=_PAGE_HEADERS)
