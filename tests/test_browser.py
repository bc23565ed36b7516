"""The rendered book as a reader sees it: every page of the table of contents served on localhost
and opened in headless Chromium (Debian's `chromium`; `.ci/test` installs it) with no network,
checked for its heading, figures, typeset math, live widgets and the absence of error outputs, and
photographed into `_build/screenshots/`; then a link check over every built HTML file.

Chromium runs from its command line (`--dump-dom` gives the page after its scripts ran,
`--screenshot` a PNG), so no Python browser driver is needed. Its only proxy is a closed local port,
so nothing but the book's own server answers; and its net log (`--log-net-log`) lists every request a
page made, so a page that asks any other host for anything (a CDN's stylesheet that only decorates,
say) fails here even where nothing visible breaks. Without a `chromium`
on the PATH these tests are skipped, unless SEITPP_BROWSER_TESTS=required (as `.ci/test` sets),
where they fail.
"""
import functools
import http.server
import json
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


def displays_a_widget(page: str) -> bool:
    """Whether the page's notebook displays an ipywidgets widget (seitpp.viz's `ComparisonWidget`)."""
    source = ROOT / f"{page}.py"
    return source.is_file() and "ComparisonWidget(" in source.read_text()


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
    """Headless Chromium, no sandbox (we run as root in CI), no GPU, scripts given 10 s of page time, and
    no network: every request but those to 127.0.0.1 (the book's server) goes to a proxy port where
    nothing listens, so the pages render from the built folder alone."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000",
             "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def page_requests(net_log: Path) -> list[str]:
    """The URLs Chromium requested for the page it opened, in order, from its net log (the JSON file
    `--log-net-log` writes on exit). A request is the page's when a document of 127.0.0.1 started it
    (its initiator) or it was made in that page's tab (the network isolation key names 127.0.0.1 as
    the top frame's site): that leaves out the requests Chromium makes for itself (clock sync,
    accounts, spelling dictionaries), which have neither."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] != start or "url" not in params:
            continue
        initiator = urlsplit(params.get("initiator", "")).hostname
        key = (params.get("network_isolation_key") or "").split()  # "top-frame-site frame-site"
        top_site = urlsplit(key[0]).hostname if key else None
        if initiator in LOCAL_HOSTS or top_site in LOCAL_HOSTS:
            urls.append(params["url"])
    return urls


def leaves_the_server(url: str) -> bool:
    """A network URL whose host is not the book's server (data:, blob:, chrome: URLs are not network)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss", "ftp") and parts.hostname not in LOCAL_HOSTS


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
NOT_PROSE = {"script", "style", "pre", "code", "textarea"}  # TeX may stand there as written


class PageParser(HTMLParser):
    """What a check needs from a page: ids, links, images, headings, classes of output areas, math
    and widgets. Reads Chromium's serialised DOM (every element closed), so it can keep a stack."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []  # href and src attributes, as written
        self.images: list[str] = []  # src of every <img>
        self.h1: list[str] = []
        self.classes: list[str] = []  # the class attribute of every element
        self.widget_views = 0  # ipywidgets outputs (their state is embedded as a script)
        self.live_widgets = 0  # widgets the HTML manager rendered: a view right inside its `widget-subarea`
        self.math = 0  # math Sphinx wrote (`\(..\)` or `\[..\]` in a span or div of class "math")
        self.typeset = 0  # MathJax's output, one <mjx-container> per formula
        self.math_errors = 0  # formulas MathJax could not parse
        self.prose = ""  # the page's text outside code, scripts and styles
        self.figures = 0  # <figure> elements (myst-nb wraps a captioned cell's image in one)
        self.numbered = 0  # their "Fig. N" numbers
        self.tables = 0  # <table> elements of cell outputs, and those in a scrolling box of their own
        self.boxed_tables = 0
        self.text_tables = 0  # cell outputs printed as text that hold a table's rule (a line of dashes)
        self.player_buttons = 0  # buttons of matplotlib's frame players (to_jshtml), and those showing an
        self.player_icons = 0  # icon: an SVG the theme's Font Awesome drew in the place of <i class="fa ...">
        self._open: list[tuple[str, list[str]]] = []  # (tag, classes) of the elements enclosing this point
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "mjx-container":
            self.typeset += 1
        if tag == "mjx-merror":
            self.math_errors += 1
        if "math" in classes and tag in ("span", "div"):
            self.math += 1
        if "jupyter-widgets" in classes and self._open and "widget-subarea" in self._open[-1][1]:
            self.live_widgets += 1
        if tag == "figure":
            self.figures += 1
        if "caption-number" in classes and any(t == "figure" for t, _ in self._open):
            self.numbered += 1
        if tag == "table" and any("output" in c or "cell_output" in c for _, cs in self._open for c in cs):
            self.tables += 1
            self.boxed_tables += any("seitpp-table" in cs for _, cs in self._open)
        in_player_buttons = any("anim-buttons" in cs for _, cs in self._open)
        if tag == "button" and in_player_buttons:
            self.player_buttons += 1
        if tag == "svg" and in_player_buttons and self._open[-1][0] == "button":
            self.player_icons += 1
        if tag not in VOID:
            self._open.append((tag, classes))
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
        if any(t == tag for t, _ in self._open):  # closes what a static page left open, too
            while self._open.pop()[0] != tag:
                pass

    def handle_data(self, data):
        if self._in_h1:
            self.h1[-1] += data
        if not any(tag in NOT_PROSE for tag, _ in self._open):
            self.prose += data
        elif any(len(line) >= 20 and set(line.strip()) == {"-"} for line in data.splitlines()) \
                and any("output" in c for _, cs in self._open for c in cs):
            self.text_tables += 1  # format_table's rule under the header: the table was printed, not displayed


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


# ----------------------------------------------------------------------------------------------
# Every page in the browser


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_in_chromium_with_its_figures_and_no_errors(browser, site, page, tmp_path):
    url = f"{site}/{page}.html"
    with urlopen(url) as response:
        assert response.status == 200, f"{url}: HTTP {response.status}"
    net_log = tmp_path / "net-log.json"
    dom = chromium(browser, f"--log-net-log={net_log}", "--dump-dom", url)
    assert dom.returncode == 0 and "</html>" in dom.stdout, f"{url}: Chromium gave no page\n{dom.stderr[-2000:]}"
    p = parse(dom.stdout)

    # Offline means offline: the page asks nothing of any host but its own server, not even what it
    # could do without (the proxy fails those requests, so only the net log shows them)
    requested = page_requests(net_log)
    assert url in requested, f"{page}: the net log names no request for the page itself (has its format changed?)"
    outgoing = sorted({u for u in requested if leaves_the_server(u)})
    assert not outgoing, f"{page}: requested {len(outgoing)} URL(s) from outside the book's server:\n" + "\n".join(outgoing)

    heading = "".join(p.h1).strip().rstrip("#").strip()
    assert heading, f"{page}: no <h1> heading"
    assert "Traceback" not in dom.stdout, f"{page}: a cell's traceback is on the page"
    errors = [c for c in p.classes if "traceback" in c.split() or "error" in c.split()]
    assert not errors, f"{page}: error outputs on the page: {errors}"
    if page.startswith("notebooks/"):
        figures = [src for src in p.images if src.startswith("data:image") or "_images/" in src]
        assert figures, f"{page}: no figure"

    # Figures numbered and captioned; results tables as HTML in a box that scrolls, not as printed text
    assert p.numbered == p.figures, f"{page}: {p.figures} figures but {p.numbered} with a 'Fig. N' caption"
    assert p.boxed_tables == p.tables, f"{page}: {p.tables - p.boxed_tables} of {p.tables} output tables not boxed"
    assert not p.text_tables, f"{page}: {p.text_tables} table(s) printed as text, cut off at the column's edge"

    # Math typeset by the MathJax the book serves itself, none left as TeX
    if p.math:
        assert p.typeset >= p.math, f"{page}: {p.math} formulas but MathJax typeset {p.typeset} (is it served?)"
    assert not p.math_errors, f"{page}: MathJax could not parse {p.math_errors} formula(s)"
    raw = [tex for tex in ("\\(", "\\[", "$$") if tex in p.prose]
    assert not raw, f"{page}: raw TeX {raw} in the text: math was not typeset"

    # Widgets drawn by the HTML manager the book serves itself
    if displays_a_widget(page):
        assert p.widget_views, f"{page}: its notebook displays a widget but the page embeds none"
    if p.widget_views:
        assert p.live_widgets >= p.widget_views, \
            f"{page}: {p.widget_views} widget(s) embedded but {p.live_widgets} rendered (is embed.js served?)"
        # the widget shows its saved figure only (no kernel redraws it): a frame player shows the rest
        assert any("animation" in c.split() for c in p.classes), \
            f"{page}: {p.widget_views} widget(s) but no static frame player"

    # Frame players' buttons with their icons, drawn by the theme's Font Awesome (the player's own CDN
    # stylesheet is not linked: seitpp.viz.compare)
    assert p.player_icons == p.player_buttons, \
        f"{page}: {p.player_buttons - p.player_icons} of {p.player_buttons} frame player buttons without an icon"

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
