"""Screenshots of the reader's pages: home, issue, search and preferences, at 1280 and 390 px,
in Chinese and in English, into docs/screenshots/ (remade by running this again).

Run: python bench/screenshots.py [--out docs/screenshots]

It publishes the repository's sample week (2024-W16) after a few synthetic earlier weeks
(bench/common.py's generator: our own words), so the home page has an archive to show,
then serves them with ``digestbot run`` and drives Debian's chromium through Playwright.
Chinese text needs a CJK font (Debian: ``apt-get install fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import REPO, Generator, digestbot_run, run_env

sys.path.insert(0, str(REPO / "src"))

from digestbot.models import Channel
from digestbot.subscribers import Tokens

CHROMIUM = Path("/usr/bin/chromium")
SECRET = "screenshots-secret-key"
READER = "reader@example.org"
#: synthetic weeks published before the sample one: (week, Monday, papers)
EARLIER = (
    ("2023-W50", dt.date(2023, 12, 11), 3),
    ("2023-W51", dt.date(2023, 12, 18), 4),
    ("2024-W14", dt.date(2024, 4, 1), 4),
    ("2024-W15", dt.date(2024, 4, 8), 5),
)
SAMPLE_WEEK = "2024-W16"
WIDTHS = {1280: 1000, 390: 1100}  # viewport width: height
SEARCH = {"zh": "注意力", "en": "attention"}


def make_site(root: Path) -> dict[str, str]:
    """Content, database and one subscriber under ``root``; the environment of its run."""
    shutil.copytree(REPO / "content", root / "content")
    gen = Generator(seed=11)
    number = 30000  # above the samples' numbers: ids never collide
    for _week, monday, count in EARLIER:
        folder = root / "content" / "papers" / str(monday.year)
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            day = monday + dt.timedelta(days=n % 5)
            number += 1
            arxiv_id = f"{day:%y%m}.{number:05d}"
            _synthetic, text = gen.paper(arxiv_id, day)
            (folder / f"{arxiv_id}.md").write_text(text, encoding="utf-8")
    env = run_env(root, SECRET_KEY=SECRET)
    env["DIGESTBOT_PUBLIC_URL"] = f"http://127.0.0.1:{env['DIGESTBOT_HTTP__PORT']}"
    for week in [w for w, _m, _c in EARLIER] + [SAMPLE_WEEK]:
        digestbot(env, "publish", "--week", week)
    digestbot(env, "subscribers", "add", READER, "--lang", "zh")
    return env


def digestbot(env: dict[str, str], *args: str) -> None:
    command = [sys.executable, "-m", "digestbot", *args]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def page_paths() -> dict[str, str]:
    """Each page to shoot: name → path (``{q}``: the search in the page's language)."""
    token = Tokens(SECRET, 3600).unsubscribe_token(Channel.EMAIL, READER)
    return {
        "home": "/",
        "issue": f"/issues/{SAMPLE_WEEK}",
        "search": "/search?q={q}",
        "preferences": f"/preferences/{token}",
    }


def shoot_one(page: Any, url: str, target: Path, width: int, full_page: bool) -> None:
    page.goto(url)
    too_wide = page.evaluate("document.documentElement.scrollWidth") - width
    if too_wide > 0:
        print(f"warning: {url} is {too_wide} px too wide at {width} px")
    page.screenshot(path=str(target), full_page=full_page)


def shoot(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    made: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        try:
            for (width, height), lang in itertools.product(WIDTHS.items(), ("zh", "en")):
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    locale="zh-CN" if lang == "zh" else "en-US",
                    is_mobile=width < 600,
                    has_touch=width < 600,
                    color_scheme="light",
                )
                page = context.new_page()
                for name, path in page_paths().items():
                    sep = "&" if "?" in path else "?"
                    url = f"{base}{path.format(q=SEARCH[lang])}{sep}lang={lang}"
                    target = out / f"{name}-{lang}-{width}.png"
                    shoot_one(page, url, target, width, full_page=name == "home")
                    made.append(target)
                context.close()
        finally:
            browser.close()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    if not fonts.stdout.strip():
        print("warning: no CJK font: Chinese shows as boxes (apt-get install fonts-noto-cjk)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="digestbot-shots-") as tmp:
        env = make_site(Path(tmp))
        with digestbot_run(env):
            made = shoot(env["DIGESTBOT_PUBLIC_URL"], args.out)
    for path in made:
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"{shown}  {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
