"""The published snapshot of a profile's results: what the book's pages read, small enough for git.

``python -m lib.publish --profile cpu --trace TRACE`` writes ``published/<profile>/``:

- ``store/``: every store entry of the profile's plan (``lib.plan``) and every entry the pages read while
  the book was executed with ``STORE_TRACE=TRACE`` (``make publish`` does both), in the store's own layout,
  so ``lib.core.store`` reads it as a published layer below ``$RESULTS_DIR``. Two kinds of payload that no
  page reads are left out: the weights of models other than the pretrained ones (``lib.pretrained``) and
  the ones a page loaded (``model.pt`` becomes ``model.pt.withheld.json``: its SHA-256 and size, and the
  model is retrained on demand), and the adversarial images of attacks other than the motivation chapter's
  (``result.pt`` keeps every per-pair number; ``x_adv`` is dropped).
- ``manifest.json``: the commit, machine, library versions, the plan log's runs (wall time, engine), and
  the count and size of the files; ``plan-log.jsonl``: the run log of the store that was published;
  ``README.md``: the same for people.

The snapshot must stay under ``MAX_TOTAL_MB`` in all and ``MAX_FILE_MB`` per file, or publishing fails.
``python -m lib.publish --profile cpu --check`` lists the plan against the snapshot alone and fails when an
entry is missing (a change that alters a store key must republish).
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
from lib.core.profile import Profile, setup_runtime
from lib.core.store import (
    PROJECT_ROOT,
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
from lib.pretrained import pretrained_runs

MAX_TOTAL_MB = 30.0
MAX_FILE_MB = 5.0
SKIPPED = ("partial.pt",)  # a finished entry never needs its training checkpoint
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
    return sorted(n for n in names if n not in SKIPPED)


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
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
            "runs": runs,
            "task_hours": round(sum(t["seconds"] for t in tasks) / 3600, 3),
            "entries": counts,
            "weights_shipped": len(keep),
            "files": len(sizes) + 2,
            "bytes": sum(sizes.values()),
        }
        check_limits(sizes)
        atomic_write_text(
            staging / "manifest.json", json.dumps(manifest, indent=2) + "\n"
        )
        atomic_write_text(staging / "README.md", snapshot_readme(manifest))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


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


# what ``verify`` recomputes from an empty store: (stage, label) of plan tasks, then one SEP model
VERIFY_TASKS = (
    ("models", "{e} standard seed {s}"),
    ("models", "{e} MAT seed {s}"),
    ("evals", "{e} MAT seed {s}"),
    ("pairs", "{e} prototype pairs"),
    ("attacks", "{e} MAT seed {s} gradient"),
)
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


def compare_entries(label: str, new: Entry, published: Entry) -> list[dict]:
    """Rows (entry, quantity, published, recomputed, max |difference|, identical) for one recomputed entry
    against its published copy: weights by SHA-256, JSON results number by number (the largest difference),
    tensors of ``.pt`` results element by element; a wall time is never compared."""
    rows = []
    names = [
        n for n in sorted({*_files(new), *_files(published)}) if n != "config.json"
    ]
    for name in names:
        if name.endswith(WITHHELD_SUFFIX) or name == "model.pt":
            if name != "model.pt":
                continue
            record = published.withheld("model.pt")
            theirs = (
                record["sha256"] if record else file_sha256(published.file("model.pt"))
            )
            mine = file_sha256(new.file("model.pt"))
            rows.append(
                dict(
                    entry=label,
                    quantity="weights (SHA-256)",
                    published=theirs[:12],
                    recomputed=mine[:12],
                    max_abs_diff=None,
                    identical=mine == theirs,
                )
            )
        elif name.endswith(".json"):
            a, b = _numbers(published.load_json(name)), _numbers(new.load_json(name))
            keys = sorted(set(a) | set(b))
            diffs = [abs(a[k] - b[k]) for k in keys if k in a and k in b]
            worst = (
                max(keys, key=lambda k: abs(a.get(k, 0) - b.get(k, 0))) if keys else ""
            )
            rows.append(
                dict(
                    entry=label,
                    quantity=f"{name}: {len(keys)} numbers (largest gap: {worst})",
                    published=a.get(worst),
                    recomputed=b.get(worst),
                    max_abs_diff=max(diffs) if diffs else None,
                    identical=set(a) == set(b) and all(a[k] == b[k] for k in keys),
                )
            )
        elif name.endswith(".pt"):
            a, b = published.load_torch(name), new.load_torch(name)
            a = a if isinstance(a, dict) else {"": a}
            b = b if isinstance(b, dict) else {"": b}
            for k in sorted(set(a) & set(b)):
                x, y = a[k].double(), b[k].double()
                rows.append(
                    dict(
                        entry=label,
                        quantity=f"{name}: {k or 'tensor'} (mean)",
                        published=float(x.mean()),
                        recomputed=float(y.mean()),
                        max_abs_diff=float((x - y).abs().max()) if x.numel() else 0.0,
                        identical=bool(torch.equal(a[k], b[k])),
                    )
                )
    return rows


def verify(
    profile: Profile, device: str, snapshot: Path, experiment: str | None = None
) -> pd.DataFrame:
    """Recompute a sample of the snapshot from an empty store and compare: ``experiment``'s first-seed
    standard model (for the pairs) and MAT model, its evaluation, the prototype pairs, its prototype attack
    (``VERIFY_TASKS``), and the first SEP model the snapshot has for it (default experiment: the last of
    ``run``, Fashion-MNIST in ``cpu``). One row per compared quantity."""
    experiment = experiment or profile.run[-1]
    seed = profile.seeds[0]
    rows = []
    # results depend on the thread count: recompute under the profile's runtime, then give the caller theirs back
    threads = torch.get_num_threads()
    setup_runtime(profile)
    try:
        with tempfile.TemporaryDirectory() as work:
            new = ResultStore(Path(work) / "new", published=[])
            pub = ResultStore(Path(work) / "pub", published=[snapshot / "store"])
            wanted = [
                (stage, label.format(e=experiment, s=seed))
                for stage, label in VERIFY_TASKS
            ]
            tasks = {(t.stage, t.label): t for t in plan(profile, new, device)}
            for stage, label in wanted:
                if (stage, label) not in tasks:
                    raise StoreError(
                        f"the {profile.name} plan has no task [{stage}] {label}"
                    )
                task = tasks[(stage, label)]
                t0 = time.perf_counter()
                run_task(task, new)
                cfg = task.config()
                print(
                    f"[verify] [{stage}] {label}: recomputed in {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
                rows += compare_entries(
                    f"[{stage}] {label}",
                    new.entry(task.kind, cfg),
                    pub.entry(task.kind, cfg),
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
    finally:
        torch.set_num_threads(threads)
    return pd.DataFrame(rows)


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
            table = verify(profile, device, out)
            print(table.to_markdown(index=False, floatfmt=".6g"))
            same = int(table["identical"].sum())
            print(
                f"{same} of {len(table)} quantities bit-identical to {out}; "
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
            missing = check(profile, device, out)
            for label in missing:
                print(f"missing from {out}: {label}")
            print(
                f"{out}: {'complete' if not missing else f'{len(missing)} entries missing'} "
                f"for the {args.profile} plan"
            )
            sys.exit(1 if missing else 0)
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
