"""Open every page of the built book in headless Chromium, offline, and fail on what a reader would see broken.

Usage: python scripts/check_book.py [--html _build/html] [--screenshots _build/screenshots]

For each HTML page (redirect stubs such as the top-level index.html are skipped) it reports, one line per
problem naming the page, and exits 1 if there is any:

- raw LaTeX: text outside code (pre, code, script, style) that still shows TeX after MathJax ran: \\( \\) \\[ \\]
  $$, $...\\cmd...$ or a common TeX command such as \\mathrm or \\frac;
- math not rendered: the page has math elements (Sphinx's `.math`) but MathJax is missing, did not finish,
  left some of them without an `mjx-container`, or reported a TeX error (`mjx-merror`);
- a broken image: an <img> that is not complete or has naturalWidth 0 after load (a missing file included);
- progress-bar output: tqdm-like text (`45%|`, `it/s]`, `s/it]`, a bar of block characters) outside code input;
- a raw Markdown pipe table: a paragraph (or a text output) containing a `| --- |` delimiter row, or a
  paragraph starting with `|` that holds several `|`;
- a console error: console.error/assert calls, uncaught exceptions and browser log errors (failed resource
  loads such as a missing font or script), except the few known, harmless ones in KNOWN_CONSOLE_ERRORS;
- a network request: pages must not need the network. Chromium runs with DNS mapped to nothing, and every
  http(s) request is intercepted, failed and reported.

With --warnings it also lists, without failing, code blocks and tables wider than the text column.

It saves a full-page screenshot of each page, 1280 px wide and as tall as the page (capped by --max-height),
to `<screenshots>/<page>.png`, and prints each page's height.

How: Chromium is driven through the DevTools protocol over a pipe (`--remote-debugging-pipe`, file
descriptors 3 and 4; no extra Python package, no port). This gives the console, exceptions and failed loads
as structured events rather than parsed log lines, lets the checks run as JavaScript in the loaded page after
MathJax's `startup.promise` and `document.fonts.ready` settle, and takes the full-page screenshot by resizing
the viewport to the measured `scrollHeight`. The Chromium binary is `$CHROMIUM` or the first of chromium,
chromium-browser, google-chrome on PATH (Debian: `apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Console errors of the theme's own scripts that are known and harmless, each with the reason. Keep this short.
KNOWN_CONSOLE_ERRORS = (
    (
        re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),
        "Jupyter Book 1 (Sphinx 7.4, sphinx-book-theme 1.3) emits sphinx-thebe's inline config script twice on "
        "every page; the second `const` fails, the first already set it, and thebe (live code) is off in this book",
    ),
)

# Runs in the page once it has loaded: waits for MathJax's first typeset, the fonts and the images.
SETTLE_JS = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const settle = (async () => {
    if (document.querySelector('script[src*="mathjax"]')) {
      for (let i = 0; i < 300 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) await sleep(50);
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    }
    await document.fonts.ready;
    await Promise.all([...document.images].map(img => img.complete ? null
      : new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
    return 'settled';
  })();
  return await Promise.race([settle, sleep(%TIMEOUT%).then(() => 'timeout')]);
})()
"""

# Runs after SETTLE_JS: returns the problems seen in the rendered page and a few counts.
CHECK_JS = r"""
(() => {
  const problems = [];
  const clip = s => { s = s.replace(/\s+/g, ' ').trim(); return s.length > 120 ? s.slice(0, 117) + '...' : s; };
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'PRE', 'CODE', 'TEXTAREA', 'MJX-CONTAINER']);
  // Visible text outside code, one string per text node's nearest block.
  function textNodes(root, skipClasses) {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode(node) {
        for (let el = node.parentElement; el && el !== root.parentElement; el = el.parentElement) {
          if (SKIP.has(el.tagName.toUpperCase())) return NodeFilter.FILTER_REJECT;
          if (skipClasses.some(c => el.classList.contains(c))) return NodeFilter.FILTER_REJECT;
        }
        return NodeFilter.FILTER_ACCEPT;
      }});
    for (let n; (n = walker.nextNode()); ) out.push(n);
    return out;
  }
  const blockText = n => {
    let el = n.parentElement;
    while (el && getComputedStyle(el).display.startsWith('inline')) el = el.parentElement;
    return el || n.parentElement;
  };
  // 1. Raw LaTeX outside code.
  const TEX = [/\\\(|\\\)|\\\[|\\\]/, /\$\$/, /\$[^$\s][^$]*\\[A-Za-z]+[^$]*\$/,
    /\\(mathrm|mathbf|mathbb|mathcal|operatorname|frac|dfrac|sqrt|sum|prod|int|left|right|big|Big|alpha|beta|gamma|delta|epsilon|varepsilon|lambda|sigma|theta|ell|nabla|partial|infty|cdot|times|leq?|geq?|approx|in|mapsto|to|rightarrow|lVert|rVert|hat|tilde|bar|text|begin|end)(?![A-Za-z])/];
  const seen = new Set();
  for (const n of textNodes(document.body, [])) {
    if (!TEX.some(re => re.test(n.textContent))) continue;
    const el = blockText(n);
    if (seen.has(el)) continue;
    seen.add(el);
    problems.push(['raw LaTeX', clip(el.textContent)]);
  }
  // 2. Math rendered by MathJax.
  const maths = [...document.querySelectorAll('.math')];
  const mjx = document.querySelectorAll('mjx-container').length;
  if (maths.length) {
    if (!window.MathJax || !MathJax.startup) problems.push(['math not rendered', `${maths.length} math elements but MathJax did not load`]);
    else {
      const bare = maths.filter(m => !m.querySelector('mjx-container'));
      if (bare.length) problems.push(['math not rendered', `${bare.length} of ${maths.length} math elements have no mjx-container, e.g. ${clip(bare[0].textContent)}`]);
    }
  }
  for (const e of document.querySelectorAll('mjx-merror')) problems.push(['MathJax error', clip(e.getAttribute('data-mjx-error') || e.textContent)]);
  // 3. Images.
  const imgs = [...document.images];
  for (const img of imgs) if (!img.complete || img.naturalWidth === 0) problems.push(['image does not load', img.getAttribute('src')]);
  // 4. Progress bars anywhere but in code input.
  const BAR = [/\d+%\|/, /\bit\/s\]/, /\bs\/it\]/, /\|[\u2588\u258f\u258e\u258d\u258c\u258b\u258a\u2589#]{3,}/];
  const inputs = new Set(document.querySelectorAll('.cell_input, .highlight-python, .highlight-ipython3'));
  const underInput = el => { for (; el; el = el.parentElement) if (inputs.has(el)) return true; return false; };
  const barSeen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode()); ) {
    const p = n.parentElement;
    if (!p || ['SCRIPT', 'STYLE'].includes(p.tagName) || underInput(p)) continue;
    const line = n.textContent.split('\n').find(l => BAR.some(re => re.test(l)));
    if (line && !barSeen.has(p)) { barSeen.add(p); problems.push(['progress bar', clip(line)]); }
  }
  // 5. Raw Markdown pipe tables: paragraphs, and text outputs of code cells.
  const DELIM = /\|\s*:?-{3,}:?\s*\|/;
  for (const p of document.querySelectorAll('p')) {
    const t = p.textContent.trim();
    if (DELIM.test(t) || (t.startsWith('|') && (t.match(/\|/g) || []).length >= 3)) problems.push(['raw Markdown table', clip(t)]);
  }
  for (const pre of document.querySelectorAll('.cell_output pre, .output pre')) {
    const line = pre.textContent.split('\n').find(l => DELIM.test(l));
    if (line) problems.push(['raw Markdown table in a text output', clip(line)]);
  }
  // Not failures, reported as warnings: code and tables wider than the text column (the reader must scroll).
  const column = document.querySelector('article') || document.querySelector('main') || document.body;
  const limit = column.getBoundingClientRect().right + 1;
  const wideCode = [...document.querySelectorAll('pre')].filter(e => e.scrollWidth > e.clientWidth + 1);
  const wideTables = [...document.querySelectorAll('table')].filter(
    t => t.scrollWidth > (t.parentElement ? t.parentElement.clientWidth : 0) + 1 || t.getBoundingClientRect().right > limit);
  const warnings = [];
  if (wideCode.length) warnings.push(['wide code', `${wideCode.length} code blocks or outputs wider than the column, e.g. ${clip(wideCode[0].textContent.split('\n').reduce((a, b) => b.length > a.length ? b : a, ''))}`]);
  for (const t of wideTables) warnings.push(['wide table', `${t.scrollWidth} px in a ${t.parentElement.clientWidth} px column: ${clip(t.querySelector('tr') ? t.querySelector('tr').textContent : '')}`]);
  const height = Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);
  return {problems, warnings, height, maths: maths.length, mjx, images: imgs.length,
          mathjax: !!(window.MathJax && MathJax.version), title: document.title};
})()
"""


class Chromium:
    """A headless Chromium driven over the DevTools protocol on a pipe (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, binary: str, timeout: float):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="check-book-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Keep the child's ends clear of 3 and 4 so that the dup2 calls below cannot clobber each other.
        child_r, child_w = (
            fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)
        )
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)

        def wire():
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--mute-audio",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--force-device-scale-factor=1",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            preexec_fn=wire,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_r)
        os.close(child_w)
        self.write_fd, self.read_fd = to_chrome_w, from_chrome_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []
        self.replies: dict[int, dict] = {}

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def _write(self, method: str, params: dict | None, session: str | None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.write_fd, data) :]
        return self.next_id

    def _pump(self, deadline: float) -> None:
        """Read one message: a reply is kept by id, an event is recorded (a network request is refused)."""
        message = self._read_message(deadline)
        if "id" in message:
            self.replies[message["id"]] = message
            return
        self.events.append(message)
        if (
            message.get("method") == "Fetch.requestPaused"
        ):  # the network: refuse it; reported per page
            self._write(
                "Fetch.failRequest",
                {
                    "requestId": message["params"]["requestId"],
                    "errorReason": "InternetDisconnected",
                },
                message.get("sessionId"),
            )

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict:
        wanted = self._write(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while wanted not in self.replies:
            self._pump(deadline)
        reply = self.replies.pop(wanted)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not any(
            e.get("method") == method and e.get("sessionId") == session
            for e in self.events
        ):
            try:
                self._pump(deadline)
            except TimeoutError:
                return False
        return True

    def evaluate(self, session: str, expression: str, timeout: float | None = None):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session,
            timeout,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(
                result["exceptionDetails"]
                .get("exception", {})
                .get("description", "script failed")
            )
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for fd in (self.write_fd, self.read_fd):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


def pages_of(html: Path) -> list[Path]:
    """Every HTML page of the build except redirect stubs and Sphinx's own assets."""
    pages = []
    for page in sorted(html.rglob("*.html")):
        rel = page.relative_to(html)
        if any(part.startswith("_") for part in rel.parts[:-1]):
            continue
        head = page.read_text(errors="replace")[:2000].lower()
        if 'http-equiv="refresh"' in head:
            continue
        pages.append(page)
    return pages


def screenshot_names(pages: list[Path], html: Path) -> dict[Path, str]:
    stems = [p.stem for p in pages]
    return {
        p: (
            p.stem
            if stems.count(p.stem) == 1
            else "__".join(p.relative_to(html).with_suffix("").parts)
        )
        for p in pages
    }


def console_problems(events: list[dict], session: str) -> list[tuple[str, str]]:
    problems = _console_problems(events, session)
    return [
        (kind, text)
        for kind, text in problems
        if not (
            kind != "network request (pages must work offline)"
            and any(pattern.search(text) for pattern, _ in KNOWN_CONSOLE_ERRORS)
        )
    ]


def _console_problems(events: list[dict], session: str) -> list[tuple[str, str]]:
    problems, blocked = [], set()
    for e in events:
        if e.get("sessionId") != session:
            continue
        method, params = e["method"], e.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            blocked.add(url)
            problems.append(("network request (pages must work offline)", url))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            text = " ".join(
                str(a.get("value", a.get("description", "")))
                for a in params.get("args", [])
            )
            problems.append(("console error", text[:200]))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            problems.append(
                (
                    "uncaught exception",
                    (
                        d.get("exception", {}).get("description") or d.get("text", "")
                    ).splitlines()[0][:200],
                )
            )
        elif (
            method == "Log.entryAdded"
            and params.get("entry", {}).get("level") == "error"
        ):
            entry = params["entry"]
            if entry.get("url") in blocked:
                continue
            problems.append(
                (
                    "console error",
                    f"{entry.get('text', '')} {entry.get('url', '')}".strip()[:200],
                )
            )
    return problems


def check_page(
    chrome: Chromium,
    page: Path,
    shot: Path,
    width: int,
    max_height: int,
    settle_s: float,
):
    target = chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = chrome.send(
        "Target.attachToTarget", {"targetId": target, "flatten": True}
    )["sessionId"]
    try:
        for method, params in (
            ("Page.enable", {}),
            ("Runtime.enable", {}),
            ("Log.enable", {}),
            (
                "Fetch.enable",
                {
                    "patterns": [
                        {"urlPattern": "http://*"},
                        {"urlPattern": "https://*"},
                        {"urlPattern": "ws*://*"},
                    ]
                },
            ),
            (
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": width,
                    "height": 900,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            ),
        ):
            chrome.send(method, params, session)
        chrome.send("Page.navigate", {"url": page.resolve().as_uri()}, session)
        problems: list[tuple[str, str]] = []
        if not chrome.wait_event("Page.loadEventFired", session, chrome.timeout):
            problems.append(
                ("page did not finish loading", f"within {chrome.timeout:.0f} s")
            )
        settled = chrome.evaluate(
            session,
            SETTLE_JS.replace("%TIMEOUT%", str(int(settle_s * 1000))),
            timeout=settle_s + 10,
        )
        if settled != "settled":
            problems.append(
                (
                    "page did not settle",
                    f"MathJax, fonts or images still pending after {settle_s:.0f} s",
                )
            )
        report = chrome.evaluate(session, CHECK_JS)
        problems += [tuple(p) for p in report["problems"]]
        if 'class="math' in page.read_text(errors="replace") and report["mjx"] == 0:
            problems.append(
                (
                    "math not rendered",
                    "the page source has math but MathJax produced no mjx-container",
                )
            )
        # Full-page screenshot: make the viewport as tall as the page, let it lay out again, capture.
        height = min(report["height"], max_height)
        chrome.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        chrome.evaluate(
            session, "new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))"
        )
        height = min(
            chrome.evaluate(
                session,
                "Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)",
            ),
            max_height,
        )
        chrome.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        data = chrome.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "fromSurface": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
            session,
            timeout=120,
        )["data"]
        shot.write_bytes(base64.b64decode(data))
        # Console events that arrived while the checks ran are included.
        chrome.evaluate(session, "new Promise(r => setTimeout(r, 100))")
        problems += console_problems(chrome.events, session)
        return problems, report, height
    finally:
        chrome.send("Target.closeTarget", {"targetId": target})
        chrome.events = [e for e in chrome.events if e.get("sessionId") != session]


def find_chromium(explicit: str | None) -> str | None:
    for name in filter(
        None,
        (
            explicit,
            os.environ.get("CHROMIUM"),
            "chromium",
            "chromium-browser",
            "google-chrome",
        ),
    ):
        path = shutil.which(name)
        if path:
            return path
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument(
        "--screenshots", type=Path, default=ROOT / "_build" / "screenshots"
    )
    parser.add_argument(
        "--chromium", help="the browser binary (default: $CHROMIUM, chromium, ...)"
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument(
        "--max-height",
        type=int,
        default=30000,
        help="cap on a screenshot's height in px",
    )
    parser.add_argument(
        "--timeout", type=float, default=60, help="seconds for a page to load"
    )
    parser.add_argument(
        "--settle", type=float, default=30, help="seconds for MathJax, fonts and images"
    )
    parser.add_argument(
        "--warnings",
        action="store_true",
        help="also list code blocks and tables wider than the text column (not failures)",
    )
    parser.add_argument(
        "pages", nargs="*", type=Path, help="only these pages (default: every page)"
    )
    args = parser.parse_args()
    binary = find_chromium(args.chromium)
    if binary is None:
        print(
            "check_book: no Chromium found; install it (Debian: apt-get install -y chromium) or set CHROMIUM",
            file=sys.stderr,
        )
        return 2
    html = args.html.resolve()
    pages = [p.resolve() for p in args.pages] or pages_of(html)
    if not pages:
        print(
            f"check_book: no HTML pages under {html}; build the book first (make book)",
            file=sys.stderr,
        )
        return 2
    args.screenshots.mkdir(parents=True, exist_ok=True)
    names = screenshot_names(pages, html)
    failures = 0
    start = time.perf_counter()
    chrome = Chromium(binary, args.timeout)
    try:
        for page in pages:
            rel = page.relative_to(html) if page.is_relative_to(html) else page
            shot = args.screenshots / f"{names.get(page, page.stem)}.png"
            try:
                problems, report, _height = check_page(
                    chrome, page, shot, args.width, args.max_height, args.settle
                )
            except (
                Exception
            ) as exc:  # a page that breaks the checker is a failure, not a crash
                problems, report, _height = (
                    [("check failed", f"{type(exc).__name__}: {exc}")],
                    {},
                    0,
                )
            for kind, detail in problems:
                print(f"{rel}: {kind}: {detail}")
            if args.warnings:
                for kind, detail in report.get("warnings", []):
                    print(f"{rel}: warning: {kind}: {detail}")
            failures += bool(problems)
            capped = " (capped)" if report.get("height", 0) > args.max_height else ""
            print(
                f"[check-book] {'FAIL' if problems else 'ok  '} {rel}: height {report.get('height', '?')} px{capped}, "
                f"{report.get('maths', 0)} formulas ({report.get('mjx', 0)} rendered), "
                f"{report.get('images', 0)} images -> {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}",
                flush=True,
            )
    finally:
        chrome.close()
    print(
        f"[check-book] {len(pages)} pages, {failures} with problems, {time.perf_counter() - start:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
