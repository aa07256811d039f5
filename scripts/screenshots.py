"""Log in to a running synthreview and save a PNG of each page given.

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 demo-lead demo-lead-pass /p/demo/ ...

Screenshots land in test-artifacts/screenshots/. Uses Debian's Chromium.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(base: str, username: str, password: str, paths: list[str]) -> None:
    out = Path("test-artifacts/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        for path in paths:
            response = page.goto(f"{base}{path}")
            page.wait_for_timeout(300)
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.strip("/")) or "home"
            print(response.status if response else "?", end=" ")
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            print(target)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
