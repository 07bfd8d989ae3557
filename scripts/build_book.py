"""Execute every chapter with papermill for a profile, then build the HTML book with Jupyter Book.

Usage: python scripts/build_book.py --profile cpu [--chapter book/02_robustness_sweep.py] [--set FIELD=YAML]
       python scripts/build_book.py --mathjax-only      (only fetch and unpack the pinned MathJax)
Exits non-zero if any chapter fails, if the build warns, or if the HTML has no figure images; before any
chapter runs, exits with one line when a dataset the chapters read is not in $DATA_DIR (`check_data`).

Math renders offline: the pages load MathJax from the book's own `_static/mathjax/` (see `ensure_mathjax`),
never from a CDN. Chapter kernels run with TQDM_DISABLE=1, so no progress bar is written into a page.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import jupytext
import papermill
import yaml

ROOT = Path(__file__).resolve().parents[1]

# MathJax, pinned: the npm registry's tarball of mathjax 3.2.2, checked against the registry's own sha512
# integrity value (`npm view mathjax@3.2.2 dist.integrity`). Only the files a page needs are unpacked into
# .cache/mathjax/static/mathjax/, which _config.yml lists in html_static_path (Sphinx copies it to
# _build/html/_static/mathjax/) and names in mathjax_path.
MATHJAX_VERSION = "3.2.2"
MATHJAX_INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
MATHJAX_CACHE = ROOT / ".cache" / "mathjax"
MATHJAX_STATIC = MATHJAX_CACHE / "static" / "mathjax"
# tex-mml-chtml.js, the CHTML fonts it loads relative to its own URL, and the TeX packages it autoloads
# (\color, \cancel, \boldsymbol, ...); the licence travels with them.
MATHJAX_FILES = (
    "LICENSE",
    "es5/tex-mml-chtml.js",
    "es5/output/chtml/fonts/woff-v2/",
    "es5/input/tex/extensions/",
)


def _integrity_ok(tarball: Path) -> bool:
    algo, _, expected = MATHJAX_INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
    return digest == expected


def ensure_mathjax() -> Path:
    """Fetch the pinned MathJax tarball into .cache/mathjax/ when missing, verify it, unpack what pages need."""
    tarball = MATHJAX_CACHE / f"mathjax-{MATHJAX_VERSION}.tgz"
    if not (tarball.is_file() and _integrity_ok(tarball)):
        MATHJAX_CACHE.mkdir(parents=True, exist_ok=True)
        tarball.unlink(missing_ok=True)
        print(
            f"[book] fetching mathjax@{MATHJAX_VERSION} from the npm registry",
            flush=True,
        )
        if shutil.which(
            "npm"
        ):  # npm honours the machine's registry and proxy configuration
            subprocess.run(
                ["npm", "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"],
                cwd=MATHJAX_CACHE,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        else:
            url = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
            with urllib.request.urlopen(url, timeout=60) as response:
                tarball.write_bytes(response.read())
        if not _integrity_ok(tarball):
            tarball.unlink()
            raise RuntimeError(
                f"mathjax-{MATHJAX_VERSION}.tgz does not match the pinned integrity {MATHJAX_INTEGRITY}"
            )
    shutil.rmtree(MATHJAX_STATIC, ignore_errors=True)
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if not member.isfile() or not any(
                name == f or (f.endswith("/") and name.startswith(f))
                for f in MATHJAX_FILES
            ):
                continue
            target = MATHJAX_STATIC / name.removeprefix("es5/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
    return MATHJAX_STATIC


# Chapter kernels start with this code (ipykernel's exec_lines). TQDM_DISABLE alone is not enough: tqdm reads it
# as a default, and the library passes `disable=not progress` explicitly, which wins over the environment. When
# TQDM_DISABLE is set, this makes every tqdm bar in the kernel disabled, whatever the caller passed.
KERNEL_NO_PROGRESS_BARS = """\
def _book_no_progress_bars():
    import os
    import tqdm.std
    if not os.environ.get("TQDM_DISABLE"):
        return
    init = tqdm.std.tqdm.__init__
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        init(self, *args, **kwargs)
    tqdm.std.tqdm.__init__ = __init__
_book_no_progress_bars()
del _book_no_progress_bars"""


def toc_chapters() -> list[Path]:
    """Chapter sources (jupytext .py) in the order of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [ROOT / f"{f}.py" for f in files if (ROOT / f"{f}.py").exists()]


def book_datasets(profile: Any) -> list[str]:
    """The datasets whose images the chapters read even when every result comes from the store (the
    motivation, validation and "Try it" cells draw test images): those of the experiments the book runs,
    trains SEP on, validates on or attacks across methods."""
    names = [
        *profile.run,
        *profile.sep.lambdas,
        *profile.sep.extra_experiments,
        *profile.prototypes.validation.experiments,
        *profile.drivers.cross_experiments,
    ]
    return sorted({profile.experiments[n].data.name for n in names})


def check_data(profile: str, overrides: dict) -> str | None:
    """None when the profile is valid and the test images of every dataset of ``book_datasets`` load from
    $DATA_DIR (or are bundled, as smoke's digits); otherwise the one line that says what is missing and how
    to fix it, so that the build fails before the first chapter instead of once per cell that reads data."""
    from lib.core.errors import USER_ERRORS, DataNotFoundError
    from lib.core.profile import load_profile
    from lib.nn.data import load_dataset

    try:
        names = book_datasets(load_profile(profile, overrides))
        for name in names:
            load_dataset(name, "test")
    except DataNotFoundError as exc:
        return (
            f"{exc}. The {profile} book reads the images of {', '.join(names)} even from a published "
            "snapshot; set DATA_DIR to a folder with them in torchvision's layout (on our machines: "
            f"DATA_DIR=../shared/data make book PROFILE={profile})"
        )
    except USER_ERRORS as exc:
        return str(exc)
    return None


def execute(source: Path, profile: str, overrides: dict) -> float:
    """Convert a chapter to .ipynb beside its source and execute it in place; returns seconds."""
    notebook = source.with_suffix(".ipynb")
    jupytext.write(jupytext.read(source), notebook)
    t0 = time.perf_counter()
    papermill.execute_notebook(
        str(notebook),
        str(notebook),
        parameters={"profile": profile, "overrides": overrides},
        cwd=str(source.parent),
        kernel_name="python3",
        progress_bar=False,
        extra_arguments=[f"--IPKernelApp.exec_lines={KERNEL_NO_PROGRESS_BARS}"],
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument(
        "--chapter", action="append", help="execute only these chapter sources"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=YAML",
        help="a profile override",
    )
    parser.add_argument(
        "--no-html", action="store_true", help="execute only, do not build HTML"
    )
    parser.add_argument(
        "--mathjax-only",
        action="store_true",
        help="only fetch and unpack the pinned MathJax",
    )
    args = parser.parse_args()
    if args.mathjax_only:
        print(f"[book] MathJax {MATHJAX_VERSION} in {ensure_mathjax()}")
        return 0
    overrides = {
        k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)
    }
    chapters = (
        [Path(c).resolve() for c in args.chapter] if args.chapter else toc_chapters()
    )
    # Chapters run with the book folder as working directory: pin the data folder and the result store to
    # absolute paths first, so that relative defaults mean the folder make was called from.
    for var, default in (("RESULTS_DIR", "./results"), ("DATA_DIR", "./data")):
        os.environ[var] = str(Path(os.environ.get(var, default)).expanduser().resolve())
    print(
        f"[book] RESULTS_DIR={os.environ['RESULTS_DIR']} DATA_DIR={os.environ['DATA_DIR']}",
        flush=True,
    )
    # Both first, so that missing data or a missing registry fails in seconds, not after the chapters ran.
    problem = check_data(args.profile, overrides)
    if problem is not None:
        print(f"[book] FAILED: {problem}", file=sys.stderr)
        return 1
    if not args.no_html:
        ensure_mathjax()
    # The kernels inherit this environment. With TQDM_DISABLE set (and KERNEL_NO_PROGRESS_BARS), a chapter that
    # trains on an empty store does not write hundreds of progress-bar blocks into its page. The stage CLIs
    # (python -m lib.studies.sweep, ...) still show their bars on the terminal.
    os.environ["TQDM_DISABLE"] = "1"
    for source in chapters:
        print(
            f"[book] executing {source.relative_to(ROOT)} (profile {args.profile})",
            flush=True,
        )
        try:
            seconds = execute(source, args.profile, overrides)
        except papermill.PapermillExecutionError as exc:
            print(
                f"[book] FAILED: {source.relative_to(ROOT)}: {exc.ename}: {exc.evalue}",
                file=sys.stderr,
            )
            return 1
        print(f"[book] {source.name}: {seconds:.0f} s", flush=True)
    if args.no_html:
        return 0
    print("[book] building HTML", flush=True)
    build = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            "--warningiserror",
            "--keep-going",
            str(ROOT),
        ],
        cwd=ROOT,
    )
    if build.returncode != 0:
        print(
            "[book] FAILED: jupyter-book build reported errors or warnings",
            file=sys.stderr,
        )
        return build.returncode
    images = list((ROOT / "_build" / "html" / "_images").glob("*.png"))
    if not images:
        print("[book] FAILED: no figure images in _build/html/_images", file=sys.stderr)
        return 1
    print(
        f"[book] built {ROOT / '_build' / 'html' / 'index.html'} with {len(images)} figure images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
