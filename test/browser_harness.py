"""Helpers for the tests that drive the HMI page in Debian's Chromium through Playwright, and
for those that start an HMI server on a port of their own."""

from __future__ import annotations

import socket
from typing import Any

CHROMIUM = '/usr/bin/chromium'  # Debian's; Playwright never downloads a browser here
BROWSER_ARGS = [
    '--no-sandbox', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
]  # fmt: skip


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def launch(playwright: Any) -> Any:
    """Headless Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)


def login(browser: Any, url: str, name: str, secret: str,
          ready: str = '#main:not([hidden])') -> Any:  # fmt: skip
    """A page of its own (own cookies) logged in as ``name``, once ``ready`` shows."""
    page = browser.new_context().new_page()
    page.goto(url)
    page.fill('#login-name', name)
    page.fill('#login-secret', secret)
    page.click('#login-submit')
    page.wait_for_selector(ready)
    return page
