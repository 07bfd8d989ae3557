"""Every chapter executes with papermill in the smoke profile (they share one result store)."""

from pathlib import Path

import jupytext
import papermill
import pytest
from conftest import PROJECT

CHAPTERS = sorted((PROJECT / "book").glob("*.py"))


@pytest.fixture(scope="module")
def shared_results(tmp_path_factory):
    return tmp_path_factory.mktemp("chapter_results")


@pytest.mark.chapter
@pytest.mark.parametrize("source", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_executes_in_smoke_profile(
    source: Path, tmp_path, monkeypatch, shared_results
):
    monkeypatch.setenv("RESULTS_DIR", str(shared_results))
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    notebook = tmp_path / f"{source.stem}.ipynb"
    jupytext.write(jupytext.read(source), notebook)
    out = papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "out.ipynb"),
        cwd=str(source.parent),
        parameters={"profile": "smoke", "overrides": {}},
        kernel_name="python3",
        progress_bar=False,
    )
    errors = [
        o
        for c in out.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    images = [
        o
        for c in out.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    if "plt.show()" in source.read_text():
        assert images, "figures must be real images, not '<Figure ...>' text"
