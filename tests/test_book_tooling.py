"""The book's own tooling: no progress bars in chapter kernels, the MathJax pin check, and check_book's detectors."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from conftest import PROJECT


def _script(name: str):
    spec = importlib.util.spec_from_file_location(
        f"_book_{name}", PROJECT / "scripts" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kernel_hook_disables_bars_even_when_the_caller_passes_disable_false():
    build = _script("build_book")
    code = build.KERNEL_NO_PROGRESS_BARS + (
        "\nfrom tqdm.std import tqdm\nassert sum(1 for _ in tqdm(range(3), desc='bar', disable=False)) == 3\n"
    )
    for disable, bar_expected in (("1", False), ("", True)):
        env = {**os.environ, "TQDM_DISABLE": disable}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert ("bar:" in out.stderr) == bar_expected, out.stderr


def test_mathjax_integrity_check_rejects_a_changed_tarball(tmp_path, monkeypatch):
    build = _script("build_book")
    tarball = tmp_path / "mathjax.tgz"
    tarball.write_bytes(b"not mathjax")
    assert not build._integrity_ok(tarball)
    import base64
    import hashlib

    monkeypatch.setattr(
        build,
        "MATHJAX_INTEGRITY",
        "sha512-" + base64.b64encode(hashlib.sha512(b"not mathjax").digest()).decode(),
    )
    assert build._integrity_ok(tarball)


BROKEN_PAGE = r"""<html><head><title>broken</title><script>console.error("boom")</script>
<script src="https://cdn.example.org/x.js"></script></head><body>
<p>Loss \(\mathrm{CE}(x)\) left raw</p>
<p>| a | b |<br>| --- | --- |<br>| 1 | 2 |</p>
<div class="cell_output"><pre>train:  45%|####      | 10/22 [00:00&lt;00:00, 99.18it/s]</pre></div>
<img src="missing.png"><span class="math">\(x\)</span>
</body></html>
"""


@pytest.mark.skipif(
    not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
    reason="needs Chromium (apt-get install -y chromium)",
)
def test_check_book_reports_every_kind_of_problem_on_a_broken_page(tmp_path):
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "broken.html").write_text(BROKEN_PAGE)
    out = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "scripts" / "check_book.py"),
            "--html",
            str(tmp_path / "html"),
            "--screenshots",
            str(tmp_path / "shots"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    for kind in (
        "raw LaTeX",
        "math not rendered",
        "image does not load",
        "progress bar",
        "raw Markdown table",
        "console error",
        "network request",
    ):
        assert f"broken.html: {kind}" in out.stdout, (kind, out.stdout)
    assert (tmp_path / "shots" / "broken.png").stat().st_size > 0
