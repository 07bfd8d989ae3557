"""The published snapshot of a profile's results: what the book's pages read, small enough for git.

``python -m lib.publish --profile cpu --trace TRACE`` writes ``published/<profile>/``:

- ``store/``: every store entry of the profile's plan (``lib.plan``) and every entry the pages read while
  the book was executed with ``STORE_TRACE=TRACE`` (``make publish`` does both), in the store's own layout,
  so ``lib.core.store`` reads it as a published layer below ``$RESULTS_DIR``. Two kinds of payload that no
  page reads are left out: the weights of models other than the pretrained ones (``lib.pretrained``) and
  the ones a page loaded (``model.pt`` becomes ``model.pt.withheld.json``: its SHA-256 and size, and the
  model is retrained on demand), and the adversarial images of attacks other than the motivation chapter's
  (``result.pt`` keeps every per-pair number; ``x_adv`` is dropped).
- ``manifest.json``: the commit, machine, library versions, the plan log's runs (wall time, engine), the
  count and size of the files, and the SHA-256 of every other file of the snapshot (``sha256``, by path;
  the store checks a shipped file against it whenever it reads one); ``plan-log.jsonl``: the run log of
  the store that was published; ``README.md``: the same for people.

The snapshot must stay under ``MAX_TOTAL_MB`` in all and ``MAX_FILE_MB`` per file, or publishing fails.
``python -m lib.publish --profile cpu --check`` lists the plan against the snapshot alone and checks every
file against its recorded SHA-256; it fails when an entry is missing (a change that alters a store key must
republish) or a file is damaged, missing or unrecorded. ``--verify`` recomputes a sample on this machine and
compares it with the snapshot (``verify``).
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from lib.core.errors import StoreError
from lib.core.profile import Profile
from lib.core.store import (
    HASH_SUFFIX,
    PROJECT_ROOT,
    RETRAINED_SUFFIX,
    WITHHELD_SUFFIX,
    Entry,
    ResultStore,
    atomic_write_text,
    file_sha256,
    git_commit,
)
from lib.pipeline.cli import load, stage_parser, user_errors
from lib.pipeline.task import NOT_NEEDED, run_task
from lib.pipeline.training import get_model
from lib.plan import RUN_LOG, describe_run, plan, read_log
from lib.pretrained import pretrained_runs, profile_runtime

MAX_TOTAL_MB = 30.0
MAX_FILE_MB = 5.0
SKIPPED = ("partial.pt",)  # a finished entry never needs its training checkpoint
# the writable root's own records: a file's SHA-256 (the manifest holds it) and the mark of a retrained file
SKIPPED_SUFFIXES = (HASH_SUFFIX, RETRAINED_SUFFIX)
MANIFEST = "manifest.json"
KEEP_IMAGES_STAGES = ("motivation",)  # attacks whose adversarial images a page shows


def published_dir(profile: str) -> Path:
    return PROJECT_ROOT / "published" / profile


def read_trace(path: Path | None) -> tuple[set[tuple[str, str]], set[str]]:
    """From a ``STORE_TRACE`` file: the (kind, key) of every entry looked up, and the keys of the models
    whose weights were loaded."""
    entries, weights = set(), set()
    if path is None:
        return entries, weights
    for line in Path(path).read_text().splitlines():
        op, _, where = line.partition(" ")
        kind, key, name = where.split("/", 2)
        entries.add((kind, key))
        if op == "read" and kind == "models" and name == "model.pt":
            weights.add(key)
    return entries, weights


def plan_entries(
    profile: Profile, store: ResultStore, device: str
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(kind, key) -> stage of every entry of the plan, and the labels of the tasks not done."""
    out, missing = {}, []
    for task in plan(profile, store, device):
        cfg = task.config()
        if cfg is NOT_NEEDED:
            continue
        if cfg is None or not task.done(store):
            missing.append(f"[{task.stage}] {task.label}")
            continue
        out.setdefault((task.kind, store.entry(task.kind, cfg).key), task.stage)
    return out, missing


def _files(entry: Entry) -> list[str]:
    names = set()
    for folder in (entry.published, entry.path):
        if folder is not None and folder.is_dir():
            names |= {
                p.name
                for p in folder.iterdir()
                if p.is_file() and not p.name.startswith(".")
            }
    return sorted(
        n for n in names if n not in SKIPPED and not n.endswith(SKIPPED_SUFFIXES)
    )


def _without_images(path: Path) -> bytes:
    result = torch.load(path, map_location="cpu", weights_only=True)
    result.pop("x_adv", None)
    buffer = io.BytesIO()
    torch.save(result, buffer)
    return buffer.getvalue()


def copy_entry(
    entry: Entry, out: Path, keep_weights: bool, keep_images: bool
) -> dict[str, int]:
    """Copy one entry into ``out/<kind>/<key>/``, leaving out what ``keep_*`` says; returns bytes per file."""
    folder = out / entry.kind / entry.key
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name in _files(entry):
        source = entry.file(name)
        if entry.kind == "models" and name == "model.pt" and not keep_weights:
            record = {"sha256": file_sha256(source), "bytes": source.stat().st_size}
            target = folder / (name + WITHHELD_SUFFIX)
            atomic_write_text(target, json.dumps(record, indent=2) + "\n")
        elif (
            entry.kind == "models"
            and name == "model.pt" + WITHHELD_SUFFIX
            and keep_weights
        ):
            if not entry.file("model.pt").exists():
                raise StoreError(
                    f"models/{entry.key}: its weights are needed in the snapshot but only their hash is "
                    "stored; compute the model into RESULTS_DIR first"
                )
            continue
        elif entry.kind == "manipulations" and name == "result.pt" and not keep_images:
            target = folder / name
            target.write_bytes(_without_images(source))
        else:
            target = folder / name
            shutil.copyfile(source, target)
        sizes[target.name] = target.stat().st_size
    if entry.kind == "models" and keep_weights:
        (folder / ("model.pt" + WITHHELD_SUFFIX)).unlink(missing_ok=True)
    return sizes


def machine() -> dict:
    """What a result's last bits depend on besides the code: platform, CPU (model and the instruction set
    PyTorch's kernels use), Python and torch."""
    model = ""
    if Path("/proc/cpuinfo").exists():
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in lines
                if ln.startswith("model name")
            ),
            "",
        )
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": model,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def publish(
    profile: Profile,
    store: ResultStore,
    device: str,
    out: Path,
    trace: Path | None = None,
) -> dict:
    """Write the snapshot of ``profile``'s results from ``store`` into ``out`` (replacing it); returns the
    manifest. Raises ``StoreError`` when the plan is not complete or the snapshot is over its size limits."""
    entries, missing = plan_entries(profile, store, device)
    if missing:
        raise StoreError(
            f"the store {store.root} is missing {len(missing)} entries of the {profile.name} plan "
            f"(first: {missing[0]}); fill it with `make store PROFILE={profile.name}` first"
        )
    traced, loaded = read_trace(trace)
    for kind, key in sorted(traced):
        entries.setdefault((kind, key), "read by the book")
    keep = {
        store.entry("models", run.spec.store_config()).key
        for _, _, run in pretrained_runs(profile, store, device)
    } | loaded
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        sizes: dict[str, int] = {}
        counts: dict[str, int] = {}
        for (kind, key), stage in sorted(entries.items()):
            entry = store.entry_by_key(kind, key)
            if entry is None:  # looked up by a page but never stored (a presence check)
                continue
            files = copy_entry(
                entry,
                staging / "store",
                keep_weights=kind == "models" and key in keep,
                keep_images=stage in KEEP_IMAGES_STAGES,
            )
            counts[kind] = counts.get(kind, 0) + 1
            sizes.update({f"store/{kind}/{key}/{n}": b for n, b in files.items()})
        tasks, runs = read_log(store)
        if (store.root / RUN_LOG).exists():
            shutil.copyfile(store.root / RUN_LOG, staging / RUN_LOG)
            sizes[RUN_LOG] = (staging / RUN_LOG).stat().st_size
        manifest = {
            "profile": profile.name,
            "commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "runs": runs,
            "task_hours": round(sum(t["seconds"] for t in tasks) / 3600, 3),
            "entries": counts,
            "weights_shipped": len(keep),
            "files": len(sizes) + 2,
            "bytes": sum(sizes.values()),
        }
        check_limits(sizes)
        atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        atomic_write_text(staging / "README.md", snapshot_readme(manifest))
        manifest = record_hashes(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def snapshot_files(snapshot: Path) -> list[str]:
    """Every file of a snapshot but its manifest, by its path from the snapshot's folder."""
    return sorted(
        p.relative_to(snapshot).as_posix()
        for p in snapshot.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )


def record_hashes(snapshot: Path) -> dict:
    """Record the SHA-256 of every file of the snapshot but its manifest in the manifest (``sha256``);
    returns the manifest. ``publish`` calls it on what it writes; on a snapshot written
    before hashes were recorded it adds them. A manifest that already records hashes is refused: hashes are
    recorded when the files are written, never to make a damaged snapshot pass its check."""
    path = snapshot / MANIFEST
    manifest = json.loads(path.read_text())
    if "sha256" in manifest:
        raise StoreError(
            f"{path} already records the SHA-256 of its files; publish again to change the snapshot"
        )
    manifest["sha256"] = {
        name: file_sha256(snapshot / name) for name in snapshot_files(snapshot)
    }
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return manifest


def damaged_files(snapshot: Path) -> list[str]:
    """One line per file of the snapshot that differs from the SHA-256 its manifest records, is missing, or
    is not recorded (empty when every file is as published)."""
    path = snapshot / MANIFEST
    hashes = json.loads(path.read_text()).get("sha256") if path.exists() else None
    if hashes is None:
        return [f"{path} records no SHA-256 of the snapshot's files; publish it again"]
    present = set(snapshot_files(snapshot))
    lines = [
        f"{snapshot / n}: missing (recorded)" for n in sorted(set(hashes) - present)
    ]
    lines += [
        f"{snapshot / n}: not recorded in {path}" for n in sorted(present - set(hashes))
    ]
    for name in sorted(present & set(hashes)):
        actual = file_sha256(snapshot / name)
        if actual != hashes[name]:
            lines.append(
                f"{snapshot / name}: SHA-256 {actual[:12]} differs from the recorded {hashes[name][:12]}"
            )
    return lines


def check_limits(sizes: dict[str, int]) -> None:
    total = sum(sizes.values()) / 2**20
    big = [(n, b / 2**20) for n, b in sizes.items() if b > MAX_FILE_MB * 2**20]
    if big:
        raise StoreError(
            f"snapshot file {big[0][0]} is {big[0][1]:.1f} MB: at most {MAX_FILE_MB} MB per file"
        )
    if total > MAX_TOTAL_MB:
        raise StoreError(
            f"the snapshot is {total:.1f} MB: at most {MAX_TOTAL_MB} MB in all; the largest parts: "
            + ", ".join(
                f"{part} {mb:.1f} MB ({n} files)"
                for part, mb, n in size_parts(sizes)[:5]
            )
        )


def size_parts(sizes: dict[str, int]) -> list[tuple[str, float, int]]:
    """(part, MB, files) per store kind and file name (``models/*/model.pt``), largest first: where a
    snapshot's bytes go."""
    parts: dict[str, list[float]] = {}
    for name, size in sizes.items():
        bits = name.split("/")
        part = f"{bits[1]}/*/{bits[-1]}" if bits[0] == "store" else name
        entry = parts.setdefault(part, [0.0, 0])
        entry[0] += size / 2**20
        entry[1] += 1
    return sorted(
        ((p, mb, int(n)) for p, (mb, n) in parts.items()), key=lambda t: -t[1]
    )


def snapshot_readme(m: dict) -> str:
    """The snapshot's README, from its manifest."""
    runs = m["runs"]
    wall = sum(r["wall_seconds"] or 0.0 for r in runs) / 3600
    interrupted = sum(bool(r.get("interrupted")) for r in runs)
    lines = [
        f"# Published results of the `{m['profile']}` profile",
        "",
        "Written by `make publish PROFILE="
        + m["profile"]
        + "` (`python -m lib.publish`); do not edit.",
        "The store below `store/` is read under `$RESULTS_DIR` by `lib.core.store`, so `make book "
        f"PROFILE={m['profile']}` renders the book from it with nothing trained, attacked or measured.",
        "",
        f"- commit: `{m['commit']}`; written {m['created']}",
        f"- machine: {m['machine']['platform']}, {m['machine']['cpus']} CPUs, Python "
        f"{m['machine']['python']}, torch {m['machine']['torch']}",
        f"- the store was filled by {len(runs)} run(s) of `lib.plan` ({m['task_hours']:.2f} h of task time "
        f"in all), {wall:.2f} h of wall time in the runs that finished"
        + (
            f" (the wall time of {interrupted} interrupted run(s) is unknown)"
            if interrupted
            else ""
        )
        + "; "
        + "; ".join(describe_run(r) for r in runs),
        f"- {sum(m['entries'].values())} entries ("
        + ", ".join(f"{k} {n}" for k, n in sorted(m["entries"].items()))
        + f"), {m['files']} files, {m['bytes'] / 2**20:.1f} MB",
        f"- weights shipped for {m['weights_shipped']} models (the pretrained ones of `lib.load_model` and "
        "those a page loads); the others keep `model.pt.withheld.json` (SHA-256 and size) and are trained "
        "again on first use. Attacks keep every per-pair number; only the motivation chapter's keep their "
        "adversarial images.",
        "- `manifest.json` records the SHA-256 of every other file: the store checks a shipped file against "
        f"it whenever it reads one, and `python -m lib.publish --profile {m['profile']} --check` checks them "
        "all.",
        "",
        "Per-stage times: `python -m lib.plan --profile "
        + m["profile"]
        + " --times` with `RESULTS_DIR` set to a store holding `plan-log.jsonl`.",
        "",
    ]
    return "\n".join(lines)


# the chapter that measures each claim of ``report.findings.book_findings``, in its order
CLAIM_CHAPTERS = (
    "book/01_motivation.py",
    "book/03_prototypes.py",
    "book/04_landscape.py",
    "book/05_sep.py",
    "book/06_curvature.py",
    "book/07_drivers.py",
)
README_START = (
    "<!-- results:start (written by python -m lib.publish --readme; do not edit) -->"
)
README_END = "<!-- results:end -->"


def results_markdown(profile: Profile, store: ResultStore, device: str) -> str:
    """The README's findings table, from the store (the published snapshot on a fresh clone): per claim of
    the findings page, our short reading with its numbers, the units' statuses, the verdict, the chapter
    that measures it and the command that recomputes it."""
    from lib.report.findings import book_findings, findings_table

    rows = book_findings(
        profile, store, device, str(PROJECT_ROOT / "book" / "paper_table.csv")
    )
    if len(rows) != len(CLAIM_CHAPTERS):
        raise StoreError(
            f"the findings page has {len(rows)} claims but CLAIM_CHAPTERS names {len(CLAIM_CHAPTERS)}"
        )
    table = findings_table(rows)
    commit = git_commit()
    manifest = published_dir(profile.name) / "manifest.json"
    if manifest.exists():
        commit = json.loads(manifest.read_text())["commit"]
    lines = [
        f"Generated from the published `{profile.name}` results (`published/{profile.name}/`, built at "
        f"commit `{(commit or 'unknown')[:7]}`) by `python -m lib.publish --profile {profile.name} "
        "--readme`; a test checks that it matches them. L_end is the explanation loss left after the "
        "attack (higher = more robust); units agree / disagree / are inconclusive by the rules of the "
        "findings page.",
        "",
        "| # | the paper's claim | ours | units (agree / disagree / inconclusive) | verdict | chapter, and "
        "the command that recomputes it |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    for r, chapter in zip(table.itertuples(index=False), CLAIM_CHAPTERS):
        d = r._asdict()
        lines.append(
            f"| {d['number']} | {cell(d['claim'])} | {cell(d['ours'])} | "
            f"{d['agrees']} / {d['disagrees']} / {d['inconclusive']} | {d['verdict']} | "
            f"[{Path(chapter).stem}]({chapter}): `python scripts/build_book.py --profile "
            f"{profile.name} --chapter {chapter}` |"
        )
    return "\n".join(lines) + "\n"


def with_results(readme: str, table: str) -> str:
    """``readme`` with the text between the results markers replaced by ``table``."""
    if README_START not in readme or README_END not in readme:
        raise StoreError(
            f"README.md lacks the markers {README_START!r} ... {README_END!r}"
        )
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_START}\n{table}{README_END}{tail}"


# what ``verify`` recomputes from an empty store: (stage, label) of plan tasks, then the prototype attack of
# the MAT model (``VERIFY_ATTACK``) and one SEP model
VERIFY_TASKS = (
    ("models", "{e} standard seed {s}"),
    ("models", "{e} MAT seed {s}"),
    ("evals", "{e} MAT seed {s}"),
    ("pairs", "{e} prototype pairs"),
)
VERIFY_ATTACK = ("attacks", "{e} MAT seed {s} gradient")
IGNORED_FIELDS = {
    "seconds",
    "provenance",
    "train_seconds",
}  # wall times and machine facts differ by nature


def _numbers(obj, prefix: str = "") -> dict[str, float]:
    """Every number of a JSON result by its path (``history.3.loss``), wall times and provenance left out."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k not in IGNORED_FIELDS:
                out.update(_numbers(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{prefix}{i}."))
        return out
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        return {}
    return {prefix.rstrip("."): float(obj)}


def _row(
    label: str,
    quantity: str,
    published: float | str | None,
    recomputed: float | str | None,
    gap: float | None,
    identical: bool,
    spread: float | None = None,
) -> dict:
    """One row of ``verify``'s table."""
    return dict(
        entry=label,
        quantity=quantity,
        published=published,
        recomputed=recomputed,
        max_abs_diff=gap,
        seed_range=spread,
        identical=bool(identical),
    )


def _spread(values: list[float | None]) -> float | None:
    """max - min of the published values over the seeds (None with fewer than two)."""
    values = [v for v in values if v is not None]
    return max(values) - min(values) if len(values) > 1 else None


def _weights_row(label: str, new: Entry, published: Entry) -> dict:
    """Weights by SHA-256 and, where the snapshot ships them, the largest parameter difference."""
    record = published.withheld("model.pt")
    theirs = record["sha256"] if record else file_sha256(published.file("model.pt"))
    mine = file_sha256(new.file("model.pt"))
    gap = None
    if record is None:
        a, b = published.load_torch("model.pt"), new.load_torch("model.pt")
        gap = max(
            (
                float((a[k].double() - b[k].double()).abs().max())
                for k in a
                if a[k].is_floating_point() and a[k].numel()
            ),
            default=0.0,
        )
    return _row(
        label,
        "weights (SHA-256; largest |parameter difference|)",
        theirs[:12],
        mine[:12],
        gap,
        mine == theirs,
    )


def _pairs_row(label: str, new: Entry, published: Entry) -> dict:
    """How many (victim, target) prototype pairs differ."""
    a, b = published.load_json("pairs.json"), new.load_json("pairs.json")
    pa, pb = (
        list(zip(a["victims"], a["targets"])),
        list(zip(b["victims"], b["targets"])),
    )
    differ = sum(x != y for x, y in zip(pa, pb)) + abs(len(pa) - len(pb))
    return _row(
        label,
        f"pairs.json: (victim, target) pairs that differ, of {len(pa)}",
        len(pa),
        len(pb),
        differ,
        a == b,
    )


def compare_entries(
    label: str,
    new: Entry,
    published: Entry,
    others: list[Entry] = (),
    means_only: bool = False,
) -> list[dict]:
    """Rows (entry, quantity, published, recomputed, max |difference|, seed range, identical) for one
    recomputed entry against its published copy: weights by SHA-256 and parameters, JSON results number by
    number (the largest difference), tensors of ``.pt`` results element by element (``means_only``: their
    means, for results over other pairs); a wall time is never compared. ``others``: the published entries
    of the same result for the other seeds, whose range beside the difference says how large it is."""
    rows = []
    names = [
        n for n in sorted({*_files(new), *_files(published)}) if n != "config.json"
    ]
    for name in names:
        if name == "model.pt":
            rows.append(_weights_row(label, new, published))
        elif name == "pairs.json":
            rows.append(_pairs_row(label, new, published))
        elif name.endswith(".json") and not name.endswith(WITHHELD_SUFFIX):
            a, b = _numbers(published.load_json(name)), _numbers(new.load_json(name))
            keys = sorted(set(a) | set(b))
            diffs = [abs(a[k] - b[k]) for k in keys if k in a and k in b]
            worst = (
                max(keys, key=lambda k: abs(a.get(k, 0) - b.get(k, 0))) if keys else ""
            )
            seeds = [a.get(worst)] + [
                _numbers(o.load_json(name)).get(worst) for o in others
            ]
            rows.append(
                _row(
                    label,
                    f"{name}: {len(keys)} numbers (largest gap: {worst})",
                    a.get(worst),
                    b.get(worst),
                    max(diffs) if diffs else None,
                    set(a) == set(b) and all(a[k] == b[k] for k in keys),
                    _spread(seeds),
                )
            )
        elif name.endswith(".pt"):
            a, b = published.load_torch(name), new.load_torch(name)
            a = a if isinstance(a, dict) else {"": a}
            b = b if isinstance(b, dict) else {"": b}
            more = [o.load_torch(name) for o in others]
            more = [m if isinstance(m, dict) else {"": m} for m in more]
            for k in sorted(set(a) & set(b)):
                x, y = a[k].double(), b[k].double()
                mean_gap = (
                    abs(float(x.mean()) - float(y.mean()))
                    if x.numel() and y.numel()
                    else 0.0
                )
                full = x.shape == y.shape and not means_only
                rows.append(
                    _row(
                        label,
                        f"{name}: {k or 'tensor'} ({'mean; other pairs' if means_only else 'mean'})",
                        float(x.mean()),
                        float(y.mean()),
                        float((x - y).abs().max()) if full and x.numel() else mean_gap,
                        full and torch.equal(a[k], b[k]),
                        _spread(
                            [float(x.mean())]
                            + [float(m[k].double().mean()) for m in more if k in m]
                        ),
                    )
                )
    return rows


def _copy_entries(source: Path, target: Path, kinds: tuple[str, ...]) -> None:
    """Copy the entries of ``kinds`` from one store root into another (a temporary store of ``verify``)."""
    for kind in kinds:
        for folder in sorted((source / kind).glob("*/")):
            shutil.copytree(folder, target / kind / folder.name, dirs_exist_ok=True)


def verdict_changes(
    profile: Profile, device: str, published: ResultStore, mixed: ResultStore
) -> pd.DataFrame:
    """Per claim of the findings page: its verdict and units on the snapshot and on the snapshot with the
    recomputed entries in place of the shipped ones (``mixed``), and whether they are the same."""
    from lib.report.findings import book_findings, findings_table

    paper = str(PROJECT_ROOT / "book" / "paper_table.csv")
    a = findings_table(book_findings(profile, published, device, paper))
    b = findings_table(book_findings(profile, mixed, device, paper))
    units = lambda r: f"{r.agrees} / {r.disagrees} / {r.inconclusive}"  # noqa: E731
    return pd.DataFrame(
        [
            dict(
                claim=x.number,
                verdict_published=x.verdict,
                verdict_recomputed=y.verdict,
                units_published=units(x),
                units_recomputed=units(y),
                numbers_same=x.ours == y.ours,
                same=x.verdict == y.verdict and units(x) == units(y),
            )
            for x, y in zip(a.itertuples(index=False), b.itertuples(index=False))
        ]
    )


def verify(
    profile: Profile, device: str, snapshot: Path, experiment: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recompute a sample of the snapshot from an empty store, under the profile's runtime, and compare:
    ``experiment``'s first-seed standard model (for the pairs) and MAT model, its evaluation, the prototype
    pairs (``VERIFY_TASKS``), the MAT model's prototype attack, and the first SEP model the snapshot has for
    it (default experiment: the last of ``run``, Fashion-MNIST in ``cpu``). On another machine or runtime
    the weights, and with them the pairs, may differ; the attack is then compared like with like: the
    recomputed model attacked on the shipped pairs, element by element, and the chain's own attack on the
    recomputed pairs by its means. Returns one row per compared quantity (with the range of its published
    value over the seeds where the snapshot has them), and the findings' verdicts on the snapshot against
    the snapshot with every recomputed entry of a shipped key in place (``verdict_changes``)."""
    experiment = experiment or profile.run[-1]
    seed = profile.seeds[0]
    rows = []
    manifest = snapshot / MANIFEST
    built = (
        json.loads(manifest.read_text()).get("machine") if manifest.exists() else None
    )
    print(
        f"[verify] the snapshot was built on {built}; this is {machine()}", flush=True
    )
    with profile_runtime(profile), tempfile.TemporaryDirectory() as work:
        work = Path(work)
        new = ResultStore(work / "new", published=[])
        pub = ResultStore(work / "pub", published=[snapshot / "store"])
        tasks = {(t.stage, t.label): t for t in plan(profile, new, device)}
        shipped = {(t.stage, t.label): t for t in plan(profile, pub, device)}

        def task_of(table: dict, stage: str, label: str):
            if (stage, label) not in table:
                raise StoreError(
                    f"the {profile.name} plan has no task [{stage}] {label}"
                )
            return table[(stage, label)]

        def others(stage: str, template: str) -> list[Entry]:
            out = []
            for s in profile.seeds[1:]:
                task = shipped.get((stage, template.format(e=experiment, s=s)))
                cfg = task.config() if task is not None else None
                if isinstance(cfg, dict):
                    out.append(pub.entry(task.kind, cfg))
            return out

        def recompute(store: ResultStore, task) -> Entry:
            t0 = time.perf_counter()
            run_task(task, store)
            print(
                f"[verify] [{task.stage}] {task.label}: recomputed in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            return store.entry(task.kind, task.config())

        for stage, template in VERIFY_TASKS:
            label = template.format(e=experiment, s=seed)
            entry = recompute(new, task_of(tasks, stage, label))
            rows += compare_entries(
                f"[{stage}] {label}",
                entry,
                pub.entry(entry.kind, entry.config),
                others(stage, template),
            )
        stage, template = VERIFY_ATTACK
        label = template.format(e=experiment, s=seed)
        theirs = task_of(shipped, stage, label)
        theirs = pub.entry(theirs.kind, theirs.config())
        chain = recompute(new, task_of(tasks, stage, label))
        attacked = chain
        if (
            chain.key == theirs.key
        ):  # the same pairs: the chain's attack is the like-for-like one
            rows += compare_entries(
                f"[{stage}] {label}", chain, theirs, others(stage, template)
            )
        else:
            print(
                "[verify] the prototype pairs recomputed here differ from the shipped ones: the attack is "
                "compared on the shipped pairs (recomputed model), and on the recomputed pairs by its means",
                flush=True,
            )
            rows += compare_entries(
                f"[{stage}] {label}, recomputed pairs",
                chain,
                theirs,
                others(stage, template),
                means_only=True,
            )
            like = ResultStore(work / "like", published=[])
            _copy_entries(work / "new", like.root, ("models", "evals"))
            pairs = pub.entry(
                "pairs",
                task_of(shipped, "pairs", f"{experiment} prototype pairs").config(),
            )
            shutil.copytree(pairs.published, like.root / "pairs" / pairs.key)
            attacked = recompute(
                like,
                task_of(
                    {(t.stage, t.label): t for t in plan(profile, like, device)},
                    stage,
                    label,
                ),
            )
            rows += compare_entries(
                f"[{stage}] {label}, shipped pairs",
                attacked,
                theirs,
                others(stage, template),
            )
        sep = [
            (k, r)
            for n, k, r in pretrained_runs(profile, pub, device)
            if n == experiment and k in ("SEP_pos", "SEP_neg")
        ]
        for kind, run in sep[:1]:
            t0 = time.perf_counter()
            get_model(run.spec, new, device, progress=False)
            print(
                f"[verify] {run.label}: retrained in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            cfg = run.spec.store_config()
            rows += compare_entries(
                f"[models] {experiment} {kind} seed {seed}",
                new.entry("models", cfg),
                pub.entry("models", cfg),
            )
        # the verdicts: the snapshot against the snapshot with every recomputed entry of a shipped key in place
        mixed = ResultStore(work / "mixed", published=[snapshot / "store"])
        _copy_entries(work / "new", mixed.root, ("models", "evals"))
        shutil.copytree(attacked.path, mixed.root / attacked.kind / attacked.key)
        t0 = time.perf_counter()
        try:
            verdicts = verdict_changes(profile, device, pub, mixed)
        except (
            Exception
        ) as exc:  # the table above stands on its own; say why the verdicts are missing
            print(
                f"[verify] the findings' verdicts could not be read ({type(exc).__name__}: {exc}); "
                "only the quantities are compared",
                flush=True,
            )
            return pd.DataFrame(rows), pd.DataFrame()
        print(
            f"[verify] the findings' verdicts read twice in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    return pd.DataFrame(rows), verdicts


def check(profile: Profile, device: str, snapshot: Path) -> list[str]:
    """The tasks of ``profile``'s plan that the snapshot alone does not hold (empty when complete)."""
    with tempfile.TemporaryDirectory() as empty:
        store = ResultStore(empty, published=[snapshot / "store"])
        return plan_entries(profile, store, device)[1]


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, help="the STORE_TRACE of a book build")
    parser.add_argument(
        "--out", type=Path, help="default: published/<profile> of the repository"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="recompute a sample from an empty store and compare it with the snapshot",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="write the findings table of README.md from the store (with --check: compare only)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="fail when the snapshot lacks an entry of the plan",
    )
    args = parser.parse_args(argv)
    with user_errors():
        profile, device = load(args)
        out = (args.out or published_dir(args.profile)).resolve()
        if args.verify:
            t0 = time.perf_counter()
            table, verdicts = verify(profile, device, out)
            print(table.to_markdown(index=False, floatfmt=".6g"))
            same = int(table["identical"].sum())
            print(
                f"{same} of {len(table)} quantities bit-identical to {out} (threads: "
                f"{profile.threads}); where not, max_abs_diff is the difference and seed_range the "
                "spread of the published value over the seeds\n"
            )
            if verdicts.empty:
                print("the findings' verdicts were not compared (see above)")
                sys.exit(1)
            print(verdicts.to_markdown(index=False))
            print(
                f"{int(verdicts['same'].sum())} of {len(verdicts)} verdicts of the findings page (and their "
                "units) unchanged with the recomputed entries in place of the shipped ones; "
                f"{time.perf_counter() - t0:.0f} s"
            )
            return
        if args.readme:
            readme = PROJECT_ROOT / "README.md"
            text = with_results(
                readme.read_text(), results_markdown(profile, ResultStore(), device)
            )
            if args.check:
                same = text == readme.read_text()
                print(
                    "README.md results table "
                    + ("matches" if same else "differs from")
                    + " the store"
                )
                sys.exit(0 if same else 1)
            atomic_write_text(readme, text)
            print("README.md results table written")
            return
        if args.check:
            damaged = damaged_files(out)
            for line in damaged:
                print(f"damaged: {line}")
            missing = [] if damaged else check(profile, device, out)
            for label in missing:
                print(f"missing from {out}: {label}")
            print(
                f"{out}: "
                + (
                    f"{len(damaged)} damaged file(s) (restore the snapshot: re-clone it, or "
                    f"`git checkout -- {out}`)"
                    if damaged
                    else f"every file as recorded; {'complete' if not missing else f'{len(missing)} entries missing'} "
                    f"for the {args.profile} plan"
                )
            )
            sys.exit(1 if damaged or missing else 0)
        # the source is the writable store over any older snapshot, never the snapshot being written
        store = ResultStore()
        t0 = time.perf_counter()
        manifest = publish(profile, store, device, out, args.trace)
        print(
            f"published {sum(manifest['entries'].values())} entries, {manifest['files']} files, "
            f"{manifest['bytes'] / 2**20:.1f} MB into {out} in {time.perf_counter() - t0:.0f} s"
        )


if __name__ == "__main__":
    main()
