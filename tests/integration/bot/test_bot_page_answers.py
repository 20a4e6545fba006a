"""The chat page as a person uses it, in Debian's chromium: formatted answers that cannot run code,
copy, stop, feedback, a conversation kept across reloads, keyboard, phone and dark mode."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from tests.support.bot_server import BotServer
from tests.support.browser import DESKTOP, browser_context, chromium, chromium_installed
from tests.support.fake_llm import FakeLLM

from chatbot_server.source_links import CORPUS_SOURCE_FILE

from .conftest import FAQ

StartBot = Callable[..., BotServer]
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"

pytestmark = pytest.mark.skipif(not chromium_installed(), reason="Debian's chromium is not installed")

MARKDOWN = """\
## Setting up

Install the **client** and *configure* it:

- run the installer
- set `EXAMPLE_TOKEN`

| limit | value |
|---|---|
| per minute | 100 |

```python
def hello():
    return "indented"
```

See [the guide](https://example.com/guide)."""

# Each line tries a different way to run code or load something from elsewhere; none may work.
HOSTILE = """\
<script>window.__pwned = "script"</script>
<img src="http://127.0.0.2:9/x.png" onerror="window.__pwned = 'onerror'">
<svg onload="window.__pwned = 'svg'"><circle r="1"/></svg>
<iframe srcdoc="<script>parent.__pwned = 'iframe'</script>"></iframe>
<a href="javascript:window.__pwned = 'href'">html link</a>
<div onmouseover="window.__pwned = 'hover'" style="position:fixed;inset:0">cover</div>
<form action="http://127.0.0.2:9/"><input name="q"><button>Go</button></form>

[markdown link](javascript:window.__pwned='markdown')
![tracking pixel](http://127.0.0.2:9/pixel.png?leak=secret)
<a href="https://example.com/ok" target="_self" onclick="window.__pwned = 'click'">kept link</a>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser_context(browser) as context:
        yield context.new_page()


def _ask(page: Page, text: str) -> None:
    page.get_by_label("Your question").fill(text)
    page.get_by_label("Your question").press("Enter")


def _last_answer(page: Page) -> Locator:
    """The latest answer, once it is complete."""
    reply = page.locator(".message.bot").last
    expect(reply).to_have_attribute("data-complete", "true")
    return reply


def _answer(page: Page, text: str) -> Locator:
    _ask(page, text)
    return _last_answer(page)


def _page_on_fake(start_bot: StartBot, fake: FakeLLM, page: Page) -> BotServer:
    """A bot answering through `fake`, its page open."""
    bot = start_bot(**fake.bot_settings())
    page.goto(bot.url)
    return bot


def test_an_answer_in_markdown_is_formatted_with_safe_links_and_code_kept_as_written(
    start_bot: StartBot, page: Page
) -> None:
    # A script error or a refusal of the page's own Content-Security-Policy shows in the console.
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    with FakeLLM(answer=MARKDOWN) as fake:
        _page_on_fake(start_bot, fake, page)
        reply = _answer(page, "How do I set up?")
        text = reply.locator(".text")
        expect(text.locator("h2")).to_have_text("Setting up")
        expect(text.locator("strong")).to_have_text("client")
        expect(text.locator("em")).to_have_text("configure")
        expect(text.locator("li")).to_have_count(2)
        expect(text.locator("li code")).to_have_text("EXAMPLE_TOKEN")
        expect(text.locator("table td").last).to_have_text("100")
        # The code block keeps its line breaks and indentation.
        assert text.locator("pre code").inner_text().rstrip("\n") == 'def hello():\n    return "indented"'
        link = text.get_by_role("link", name="the guide")
        expect(link).to_have_attribute("href", "https://example.com/guide")
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        assert "**" not in text.inner_text()
    assert problems == []


def test_an_answer_that_tries_to_run_code_is_rendered_inert(start_bot: StartBot, page: Page) -> None:
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with FakeLLM(answer=HOSTILE) as fake:
        bot = start_bot(**fake.bot_settings())
        response = page.goto(bot.url)
        assert response is not None
        # Behind the sanitiser, the browser itself runs only the bot's scripts and talks only to it.
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        reply = _answer(page, "Tell me something")
        text = reply.locator(".text")
        # Whatever survives is text and plain links; hover and click where handlers were.
        text.get_by_text("cover").hover()
        # Their javascript: addresses are gone, so these are text now, not links.
        text.get_by_text("html link").click()
        text.get_by_text("markdown link").click()
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert dialogs == []
        for tag in ("script", "img", "svg", "iframe", "form", "input", "button"):
            expect(text.locator(tag)).to_have_count(0)
        handlers = text.evaluate(
            """(root) => [...root.querySelectorAll('*')]
                   .flatMap((el) => [...el.attributes].map((a) => a.name))
                   .filter((name) => name.startsWith('on') || name === 'style')"""
        )
        assert handlers == []
        hrefs = text.locator("a").evaluate_all("links => links.map((a) => a.getAttribute('href'))")
        assert not [href for href in hrefs if href and href.strip().lower().startswith("javascript:")]
        # The image is a link to its address, never fetched; nothing left the bot's own origin.
        expect(text.get_by_role("link", name="tracking pixel")).to_have_attribute(
            "href", "http://127.0.0.2:9/pixel.png?leak=secret"
        )
        kept = text.get_by_role("link", name="kept link")
        expect(kept).to_have_attribute("target", "_blank")
        expect(kept).to_have_attribute("rel", "noopener noreferrer")
        assert all(url.startswith(bot.url) for url in requests), requests


def test_the_copy_button_copies_the_code_as_written(start_bot: StartBot, browser: Browser) -> None:
    with FakeLLM(answer=MARKDOWN) as fake, browser_context(browser, **DESKTOP) as context:
        bot = start_bot(**fake.bot_settings())
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=bot.url)
        page = context.new_page()
        page.goto(bot.url)
        reply = _answer(page, "Show me code")
        copy = reply.get_by_role("button", name="Copy code")
        copy.click()
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == 'def hello():\n    return "indented"'


def test_stop_ends_a_streaming_answer_keeps_what_came_and_closes_the_upstream_call(
    start_bot: StartBot, page: Page
) -> None:
    answer = " ".join(f"word{n}" for n in range(200))
    with FakeLLM(answer=answer, chunk_delay=0.05) as fake:
        _page_on_fake(start_bot, fake, page)
        _ask(page, "Talk for a long time")
        stop = page.get_by_role("button", name="Stop")
        expect(stop).to_be_visible()
        expect(page.get_by_role("button", name="Send")).to_be_hidden()
        expect(page.locator("#log")).to_have_attribute("aria-busy", "true")
        reply = page.locator(".message.bot").last
        expect(reply.locator(".text")).to_contain_text("word3")
        stop.click()
        expect(reply).to_have_attribute("data-complete", "true")
        expect(reply.locator(".notice")).to_have_text("Stopped.")
        expect(page.get_by_role("button", name="Send")).to_be_visible()
        # The Stop button is gone: the focus goes to the question box, not to nowhere.
        expect(page.get_by_label("Your question")).to_be_focused()
        expect(page.locator("#log")).to_have_attribute("aria-busy", "false")
        kept = reply.locator(".text").inner_text()
        assert kept.startswith("word0 word1")
        assert not kept.endswith("word199")
        # The bot closed its call to the model: nobody pays for an answer nobody reads.
        for _ in range(50):
            if fake.streams_cut:
                break
            page.wait_for_timeout(100)
        assert fake.streams_cut == 1
        # What was shown is the conversation's answer: it is sent with the next question.
        fake.answers["Go on"] = "Done."
        _ask(page, "Go on")
        _last_answer(page)
        sent = fake.requests[-1]["messages"]
        assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"]
        assert sent[2]["content"] == kept


def test_an_answer_streams_into_the_same_nodes_instead_of_being_redrawn(
    start_bot: StartBot, page: Page
) -> None:
    answer = "First paragraph stays put.\n\n" + " ".join(f"more{n}" for n in range(80))
    with FakeLLM(answer=answer, chunk_delay=0.05) as fake:
        _page_on_fake(start_bot, fake, page)
        _ask(page, "Stream please")
        reply = page.locator(".message.bot").last
        expect(reply.locator(".text p").nth(1)).to_contain_text("more1")
        # A mark on the node itself (an attribute would make it differ from the next render),
        # set while the answer is still being written.
        still_streaming = reply.locator(".text p").first.evaluate(
            "(p) => { p.seenMidStream = true; return !p.closest('.message').dataset.complete; }"
        )
        assert still_streaming
        expect(reply).to_have_attribute("data-complete", "true", timeout=15_000)
        expect(reply.locator(".text p").nth(1)).to_contain_text("more79")
        # The first paragraph was never replaced while the rest was written.
        assert reply.locator(".text p").first.evaluate("(p) => p.seenMidStream === true")


def test_feedback_is_sent_with_the_answer_it_rates(
    start_bot: StartBot, corpus: Path, page: Page, capfd: pytest.CaptureFixture[str]
) -> None:
    bot = start_bot({"faq": FAQ, "transcript_log": True}, corpus_dir=corpus)
    page.goto(bot.url)
    reply = _answer(page, "How do I configure my token?")
    down = reply.get_by_role("button", name="Bad answer")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    comment = reply.get_by_label("What was good or wrong? (optional)")
    expect(comment).to_be_focused()
    comment.fill("Too long.")
    with page.expect_response("**/api/feedback") as sent:
        reply.get_by_role("button", name="Send feedback").click()
    assert sent.value.status == 204
    body = sent.value.request.post_data_json
    assert body["rating"] == "down"
    assert body["comment"] == "Too long."
    assert body["question"] == "How do I configure my token?"
    assert body["mode"] == "corpus"
    assert body["sources"] == ["guides/install.md"]
    assert "EXAMPLE_TOKEN" in body["answer"]
    expect(reply.get_by_role("status")).to_have_text("Thanks for your feedback.")
    expect(down).to_be_disabled()
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'chatbot_feedback_total{bot="chatbot",mode="corpus",rating="down"} 1.0' in metrics
    logged = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"feedback"' in line]
    assert logged[-1]["comment"] == "Too long."


def test_a_reload_keeps_the_conversation_and_new_chat_clears_it(
    start_bot: StartBot, corpus: Path, page: Page
) -> None:
    (corpus / CORPUS_SOURCE_FILE).write_text(
        json.dumps({"repo": "git@github.com:example/docs.git", "commit": SHA})
    )
    with FakeLLM(answer="Use **EXAMPLE_TOKEN**.") as fake:
        bot = start_bot(corpus_dir=corpus, **fake.bot_settings(model="gpt-4o-mini"))
        page.goto(bot.url)
        _ask(page, "How do I configure my token?")
        expect(_last_answer(page).locator(".answered-by")).to_have_text("Answered by gpt-4o-mini")
        page.locator(".message.bot").last.get_by_role("button", name="Good answer").click()
        page.get_by_role("button", name="Send feedback").click()
        expect(page.get_by_role("status").last).to_have_text("Thanks for your feedback.")

        page.reload()
        expect(page.locator(".message.user")).to_have_text(["How do I configure my token?"])
        answer = page.locator(".message.bot").last
        expect(answer.locator(".text strong")).to_have_text("EXAMPLE_TOKEN")  # rendered again
        expect(answer.locator(".answered-by")).to_have_text("Answered by gpt-4o-mini")
        source = answer.locator(".sources a").first
        expect(source).to_have_attribute(
            "href", f"https://github.com/example/docs/blob/{SHA}/guides/install.md"
        )
        expect(answer.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")
        # The next question is sent with the kept conversation.
        _ask(page, "And then?")
        _last_answer(page)
        assert [m["content"] for m in fake.requests[-1]["messages"][1:]] == [
            "How do I configure my token?",
            "Use **EXAMPLE_TOKEN**.",
            "And then?",
        ]

        page.get_by_role("button", name="New chat").click()
        expect(page.locator(".message")).to_have_count(1)  # the greeting alone
        expect(page.get_by_label("Your question")).to_be_focused()
        page.reload()
        expect(page.locator(".message")).to_have_count(1)
        _ask(page, "Fresh start")
        _last_answer(page)
        assert [m["content"] for m in fake.requests[-1]["messages"][1:]] == ["Fresh start"]


def test_sources_show_their_heading_and_path_and_link_only_to_https(
    start_bot: StartBot, corpus: Path, page: Page
) -> None:
    bot = start_bot(corpus_dir=corpus)  # a corpus from a folder: no links, plain text
    page.goto(bot.url)
    _ask(page, "How do I configure my token?")
    sources = _last_answer(page).get_by_role("list", name="Sources").get_by_role("listitem")
    expect(sources.first).to_contain_text("Configuration")
    expect(sources.first).to_contain_text("guides/install.md")
    expect(sources.first.locator("a")).to_have_count(0)
    expect(_last_answer(page).locator(".answered-by")).to_have_count(0)  # offline: no model answered


def test_the_page_works_by_keyboard_with_labels_and_announcements(start_bot: StartBot, page: Page) -> None:
    bot = start_bot({"faq": FAQ, "name": "Docsy", "greeting": "Hello from **Docsy**."})
    page.goto(bot.url)
    expect(page).to_have_title("Docsy")
    expect(page.locator("#greeting strong")).to_have_text("Docsy")  # the greeting is Markdown too
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("aria-live", "polite")
    # Tab order: New chat, then the question, then Send.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="New chat")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Your question")).to_be_focused()
    page.keyboard.type("support hours?")
    page.keyboard.press("Enter")
    expect(log.locator(".message.bot .text").last).to_have_text("Monday to Friday, 9am to 5pm.")
    expect(page.get_by_label("Your question")).to_be_focused()
    # The answer's controls come before the question box, in reading order.
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Bad answer")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Good answer")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("What was good or wrong? (optional)")).to_be_focused()


def test_on_a_phone_nothing_overflows_and_the_question_box_stays_in_view(
    start_bot: StartBot, page: Page
) -> None:
    long_code = (
        "```\n"
        + "x = '"
        + "very-long-line-" * 30
        + "'\n```\n\n"
        + "| a | b |\n|---|---|\n| "
        + "w " * 80
        + "| 1 |"
    )
    with FakeLLM(answer=long_code) as fake:
        _page_on_fake(start_bot, fake, page)
        for n in range(3):
            _ask(page, f"Question {n} with a long code line")
            _last_answer(page)
        width = page.evaluate("window.innerWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for name in ("Your question", "Send"):
            target = (
                page.get_by_label(name) if name == "Your question" else page.get_by_role("button", name=name)
            )
            box = target.bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= width
            assert box["y"] + box["height"] <= 844
        # Long code scrolls inside its block, not the page.
        pre = page.locator(".code-block pre").last
        assert pre.evaluate("(el) => el.scrollWidth > el.clientWidth")


def test_dark_mode_follows_the_system_setting(start_bot: StartBot, browser: Browser) -> None:
    bot = start_bot()
    backgrounds = {}
    for scheme in ("light", "dark"):
        with browser_context(browser, color_scheme=scheme) as context:
            page = context.new_page()
            page.goto(bot.url)
            backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert backgrounds == {"light": "rgb(246, 247, 249)", "dark": "rgb(20, 23, 28)"}


def test_a_long_conversation_is_sent_from_its_latest_turns_within_the_bots_limit(
    start_bot: StartBot, page: Page
) -> None:
    with FakeLLM(answer="Noted.") as fake:
        bot = start_bot({"max_messages": 3}, **fake.bot_settings())
        page.goto(bot.url)
        for n in range(3):
            reply = _answer(page, f"Question {n}")
            expect(reply.locator(".text")).to_have_text("Noted.")  # never "Too many messages"
        sent = [m["content"] for m in fake.requests[-1]["messages"][1:]]
        assert sent == ["Question 1", "Noted.", "Question 2"]
        expect(page.locator(".message.user")).to_have_count(3)  # the page still shows it all


def test_an_answer_can_be_stopped_from_the_keyboard(start_bot: StartBot, page: Page) -> None:
    with FakeLLM(answer=" ".join(f"word{n}" for n in range(200)), chunk_delay=0.05) as fake:
        _page_on_fake(start_bot, fake, page)
        # Send by its button: the focus moves to Stop, which takes its place, and Enter stops.
        page.get_by_label("Your question").fill("Talk for a long time")
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Send")).to_be_focused()
        page.keyboard.press("Enter")
        reply = page.locator(".message.bot").last
        expect(reply.locator(".text")).to_contain_text("word2")
        expect(page.get_by_role("button", name="Stop")).to_be_focused()
        page.keyboard.press("Enter")
        expect(reply.locator(".notice")).to_have_text("Stopped.")
        expect(page.get_by_label("Your question")).to_be_focused()
        # Escape in the question box stops too, while the next question is being typed.
        _ask(page, "Once more")
        reply = page.locator(".message.bot").last
        expect(reply.locator(".text")).to_contain_text("word2")
        page.keyboard.press("Escape")
        expect(reply.locator(".notice")).to_have_text("Stopped.")
        expect(page.get_by_role("button", name="Send")).to_be_visible()
