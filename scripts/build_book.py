"""Execute every chapter with papermill for a profile, then build the HTML book with Jupyter Book.

Usage: python scripts/build_book.py --profile cpu [--chapter book/02_robustness_sweep.py] [--set FIELD=YAML]
Exits non-zero if any chapter fails, if the build warns, or if the HTML has no figure images.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import papermill
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_chapters() -> list[Path]:
    """Chapter sources (jupytext .py) in the order of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [ROOT / f"{f}.py" for f in files if (ROOT / f"{f}.py").exists()]


def execute(source: Path, profile: str, overrides: dict) -> float:
    """Convert a chapter to .ipynb beside its source and execute it in place; returns seconds."""
    notebook = source.with_suffix(".ipynb")
    jupytext.write(jupytext.read(source), notebook)
    t0 = time.perf_counter()
    papermill.execute_notebook(str(notebook), str(notebook), parameters={"profile": profile, "overrides": overrides},
                               cwd=str(source.parent), kernel_name="python3", progress_bar=False)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--chapter", action="append", help="execute only these chapter sources")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=YAML", help="a profile override")
    parser.add_argument("--no-html", action="store_true", help="execute only, do not build HTML")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
    chapters = [Path(c).resolve() for c in args.chapter] if args.chapter else toc_chapters()
    # Chapters run with the book folder as working directory: pin the data folder and the result store to
    # absolute paths first, so that relative defaults mean the folder make was called from.
    for var, default in (("RESULTS_DIR", "./results"), ("DATA_DIR", "./data")):
        os.environ[var] = str(Path(os.environ.get(var, default)).expanduser().resolve())
    print(f"[book] RESULTS_DIR={os.environ['RESULTS_DIR']} DATA_DIR={os.environ['DATA_DIR']}", flush=True)
    for source in chapters:
        print(f"[book] executing {source.relative_to(ROOT)} (profile {args.profile})", flush=True)
        try:
            seconds = execute(source, args.profile, overrides)
        except papermill.PapermillExecutionError as exc:
            print(f"[book] FAILED: {source.relative_to(ROOT)}: {exc.ename}: {exc.evalue}", file=sys.stderr)
            return 1
        print(f"[book] {source.name}: {seconds:.0f} s", flush=True)
    if args.no_html:
        return 0
    print("[book] building HTML", flush=True)
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "--warningiserror", "--keep-going",
                            str(ROOT)], cwd=ROOT)
    if build.returncode != 0:
        print("[book] FAILED: jupyter-book build reported errors or warnings", file=sys.stderr)
        return build.returncode
    images = list((ROOT / "_build" / "html" / "_images").glob("*.png"))
    if not images:
        print("[book] FAILED: no figure images in _build/html/_images", file=sys.stderr)
        return 1
    print(f"[book] built {ROOT / '_build' / 'html' / 'index.html'} with {len(images)} figure images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
