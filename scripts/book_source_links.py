"""Sphinx extension (loaded through `sphinx: local_extensions` in _config.yml): a source link on every chapter.

The book has no public repository URL, so Jupyter Book's repository buttons cannot point anywhere. Instead,
every page built from a notebook whose jupytext source `<name>.py` sits beside it gets, under its title, a
line linking to a copy of that source inside the HTML (`_sources_py/<path>.py`) and to the page that says
how to rerun it. The copies are written when the build finishes, so the links work offline and from a
plain `jupyter-book build` as well as from scripts/build_book.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.util.osutil import relative_uri

SOURCES_DIR = "_sources_py"
REPRODUCE_DOC = "book/reproduce"


def _source_of(app, docname: str) -> Path | None:
    """The jupytext source of a page built from a notebook, or None for Markdown pages."""
    path = Path(app.env.doc2path(docname))
    source = path.with_suffix(".py")
    return source if path.suffix == ".ipynb" and source.is_file() else None


def _add_link(app, doctree, docname: str) -> None:
    if app.builder.format != "html":
        return
    source = _source_of(app, docname)
    if source is None:
        return
    relpath = source.relative_to(app.srcdir).as_posix()
    here = app.builder.get_target_uri(docname)
    para = nodes.paragraph(classes=["book-source-link"])
    para += nodes.Text("Source of this page: ")
    link = nodes.reference(
        "", "", refuri=relative_uri(here, f"{SOURCES_DIR}/{relpath}")
    )
    link += nodes.literal(relpath, relpath)
    para += link
    para += nodes.Text(" (jupytext percent format; executed with papermill). ")
    if REPRODUCE_DOC in app.env.all_docs:
        para += nodes.Text("How to rerun it: ")
        para += nodes.reference(
            "",
            "Reproduce this book",
            refuri=app.builder.get_relative_uri(docname, REPRODUCE_DOC),
        )
        para += nodes.Text(".")
    section = next(iter(doctree.findall(nodes.section)), None)
    if (
        section is not None
        and section.children
        and isinstance(section.children[0], nodes.title)
    ):
        section.insert(1, para)
    else:
        doctree.insert(0, para)


def _copy_sources(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for docname in app.env.found_docs:
        source = _source_of(app, docname)
        if source is not None:
            target = Path(app.outdir) / SOURCES_DIR / source.relative_to(app.srcdir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def setup(app):
    app.connect("doctree-resolved", _add_link)
    app.connect("build-finished", _copy_sources)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
