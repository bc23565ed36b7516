"""The rendered book as a reader sees it: every page of the table of contents served on localhost
and opened in headless Chromium (Debian's `chromium`; `.ci/test` installs it), checked for its
heading, figures and the absence of error outputs, and photographed into `_build/screenshots/`;
then a link check over every built HTML file.

Chromium runs from its command line (`--dump-dom` gives the page after its scripts ran,
`--screenshot` a PNG), so no Python browser driver is needed. Without a `chromium` on the PATH
these tests are skipped, unless SEITPP_BROWSER_TESTS=required (as `.ci/test` sets), where they fail.
"""
import functools
import http.server
import os
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def toc_pages() -> list[str]:
    """The book's pages in reading order, as paths without suffix ("book/intro", "notebooks/01_...")."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


PAGES = toc_pages()


@pytest.fixture(scope="module")
def browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    message = f"no Chromium on the PATH (looked for {', '.join(BROWSERS)}): apt-get install chromium"
    if os.environ.get("SEITPP_BROWSER_TESTS") == "required":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(built_book):
    """The built book served over HTTP on a free localhost port -> its base URL."""
    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


def chromium(browser: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium, no sandbox (we run as root in CI), no GPU, scripts given 10 s of page time."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


class PageParser(HTMLParser):
    """What a check needs from a page: ids, links, images, headings and classes of output areas."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []  # href and src attributes, as written
        self.images: list[str] = []  # src of every <img>
        self.h1: list[str] = []
        self.classes: list[str] = []  # the class attribute of every element
        self.widget_views = 0  # ipywidgets outputs (their state is embedded as a script)
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "h1":
            self._in_h1 = True
            self.h1.append("")
        if tag == "script" and a.get("type") == "application/vnd.jupyter.widget-view+json":
            self.widget_views += 1
        if a.get("class"):
            self.classes.append(a["class"])

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1:
            self.h1[-1] += data


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


# ----------------------------------------------------------------------------------------------
# Every page in the browser


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_in_chromium_with_its_figures_and_no_errors(browser, site, page):
    url = f"{site}/{page}.html"
    with urlopen(url) as response:
        assert response.status == 200, f"{url}: HTTP {response.status}"
    dom = chromium(browser, "--dump-dom", url)
    assert dom.returncode == 0 and "</html>" in dom.stdout, f"{url}: Chromium gave no page\n{dom.stderr[-2000:]}"
    p = parse(dom.stdout)

    heading = "".join(p.h1).strip().rstrip("#").strip()
    assert heading, f"{page}: no <h1> heading"
    assert "Traceback" not in dom.stdout, f"{page}: a cell's traceback is on the page"
    errors = [c for c in p.classes if "traceback" in c.split() or "error" in c.split()]
    assert not errors, f"{page}: error outputs on the page: {errors}"
    if page.startswith("notebooks/"):
        figures = [src for src in p.images if src.startswith("data:image") or "_images/" in src]
        assert figures, f"{page}: no figure"
        if p.widget_views:  # offline the widget area is blank: a frame player must stand in for it
            assert any("animation" in c.split() for c in p.classes), \
                f"{page}: {p.widget_views} widget(s) but no static frame player"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{page.replace('/', '_')}.png"
    result = chromium(browser, f"--screenshot={shot}", "--window-size=1280,1600", url)
    assert result.returncode == 0 and shot.is_file(), f"{url}: no screenshot\n{result.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (1600, 1280) and pixels.std() > 10, f"{shot}: the page looks blank"


# ----------------------------------------------------------------------------------------------
# Links


def local_target(page: Path, link: str, root: Path) -> tuple[Path, str] | None:
    """A link of `page` -> (the file it points to, its #fragment), or None for external and inline links."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("javascript:", "mailto:")):
        return None
    target = page if not parts.path else (root / parts.path.lstrip("/") if parts.path.startswith("/")
                                          else page.parent / unquote(parts.path))
    target = target.resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


@pytest.mark.slow
def test_every_local_link_and_anchor_of_the_built_book_resolves(built_book):
    root = built_book.resolve()
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts)  # not theme templates
    assert len(pages) >= len(PAGES)
    ids: dict[Path, set[str]] = {}
    broken, checked = [], 0
    for page in pages:
        for link in parse(page.read_text(errors="replace")).links:
            found = local_target(page.resolve(), link, root)
            if found is None:
                continue
            target, fragment = found
            checked += 1
            if not target.is_file():
                broken.append(f"{page.relative_to(root)}: {link} (no file {target})")
            elif fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = parse(target.read_text(errors="replace")).ids
                if fragment not in ids[target]:
                    broken.append(f"{page.relative_to(root)}: {link} (no anchor #{fragment})")
    assert checked > 100, f"only {checked} local links found: is the book built?"
    assert not broken, f"{len(broken)} broken links of {checked}:\n" + "\n".join(broken[:40])
