"""Debian's chromium driven by Playwright, for the chat page's tests (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A phone: the page must be usable there.
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1100, "height": 800}}


def chromium_installed() -> bool:
    return shutil.which(CHROMIUM) is not None


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_context(browser: Browser, **options: Any) -> Iterator[BrowserContext]:
    context = browser.new_context(**{**PHONE, **options})
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def chromium_page(**options: Any) -> Iterator[Page]:
    """One page in its own browser, phone-sized unless `options` say otherwise."""
    with chromium() as browser, browser_context(browser, **options) as context:
        yield context.new_page()
