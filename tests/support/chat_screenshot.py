"""A screenshot of a conversation on the chat page, for the docs (docs/images/chat-page.png).

    .venv/bin/python -m tests.support.chat_screenshot docs/images/chat-page.png [--dark] [--phone]

A bot on 127.0.0.1 with a small corpus recorded as fetched from GitHub, answering through the fake
upstream with a Markdown answer; Debian's chromium draws the page.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from chatbot_server.source_links import CORPUS_SOURCE_FILE
from tests.support.bot_server import BotServer
from tests.support.browser import DESKTOP, PHONE, browser_context, chromium
from tests.support.fake_llm import FakeLLM

QUESTION = "How do I configure the client?"
ANSWER = """\
Set your API token, then create the client:

1. Create a token in the dashboard under **Settings → Tokens**.
2. Export it as `EXAMPLE_TOKEN`:

```sh
export EXAMPLE_TOKEN=tok_live_123
```

3. The client reads it at start-up:

```python
from example import Client

client = Client()  # reads EXAMPLE_TOKEN
print(client.whoami())
```

Requests are limited to **100 per minute** per token ([limits](https://example.com/limits))."""
CORPUS = {
    "guides/install.md": "# Installing Example\n\nRun `pip install example`.\n\n## Configuration\n\n"
    "Set the EXAMPLE_TOKEN environment variable to your API token. Tokens are created in the "
    "dashboard under Settings. The client reads EXAMPLE_TOKEN when it starts.\n",
    "limits.rst": "Rate limits\n===========\n\nThe API allows 100 requests per minute per token.\n",
}
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def take(out: Path, *, dark: bool, phone: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        corpus = root / "corpus"
        for name, text in CORPUS.items():
            (corpus / name).parent.mkdir(parents=True, exist_ok=True)
            (corpus / name).write_text(text)
        source = {"repo": "https://github.com/example/docs.git", "commit": COMMIT}
        (corpus / CORPUS_SOURCE_FILE).write_text(json.dumps(source))
        with (
            FakeLLM(answer=ANSWER) as fake,
            BotServer(
                root,
                {"name": "Docsy", "greeting": "Hi, I'm **Docsy**. Ask me anything about the Example API."},
                corpus_dir=corpus,
                **fake.bot_settings(),
            ) as bot,
            chromium() as browser,
            browser_context(
                browser, **(PHONE if phone else DESKTOP), color_scheme="dark" if dark else "light"
            ) as context,
        ):
            page = context.new_page()
            page.goto(bot.url)
            page.fill("#question", QUESTION)
            page.press("#question", "Enter")
            page.locator(".message.bot[data-complete=true]").last.wait_for()
            page.get_by_role("button", name="Good answer").last.click()
            page.get_by_label("What was good or wrong? (optional)").fill("Clear steps, thanks!")
            page.get_by_role("button", name="Send feedback").click()
            page.get_by_text("Thanks for your feedback.").wait_for()
            page.locator("#question").fill("And how do I rotate the token?")
            page.locator("#question").blur()
            page.screenshot(path=str(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--dark", action="store_true", help="the system's dark setting")
    parser.add_argument("--phone", action="store_true", help="a 390x844 phone viewport")
    args = parser.parse_args()
    take(args.out, dark=args.dark, phone=args.phone)
    print(args.out)


if __name__ == "__main__":
    main()
