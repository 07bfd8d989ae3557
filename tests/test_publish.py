"""Publishing a filled store: the snapshot holds every plan entry (the plan lists as done on it alone), stays
within its size limits, withholds the weights of models that are not pretrained, serves ``load_model`` with
the published accuracy, and ``verify`` recomputes a sample bit-identically on this machine."""

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml
from conftest import PROJECT
from test_tasks import TINY

from lib.core.errors import ConfigError, StoreError
from lib.core.profile import load_profile, setup_runtime
from lib.core.store import WITHHELD_SUFFIX, ResultStore
from lib.nn.pgd import evaluate
from lib.pipeline import explanation_attack
from lib.pipeline.evaluation import evaluate_model
from lib.pipeline.explanation_attack import evaluation_images
from lib.pipeline.roster import motivation_runs
from lib.pipeline.training import get_model
from lib.pretrained import load_model, model_kinds, pretrained_runs
from lib.publish import (
    README_END,
    README_START,
    check,
    check_limits,
    damaged_files,
    publish,
    results_markdown,
    size_parts,
    verify,
    with_results,
)

SETTINGS = TINY[1::2] + ["sweep.mat=true"]


def _overrides(**extra) -> dict:
    return {
        **{k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in SETTINGS)},
        **extra,
    }


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny smoke store filled by lib.plan, published without a trace (the plan's entries only)."""
    root = tmp_path_factory.mktemp("pub")
    env = {
        **os.environ,
        "RESULTS_DIR": str(root / "store"),
        "RESULTS_PUBLISHED": "",
        "TQDM_DISABLE": "1",
        "DATA_DOWNLOAD": "0",
    }
    args = [a for s in SETTINGS for a in ("--set", s)]
    done = subprocess.run(
        [sys.executable, "-m", "lib.plan", "--profile", "smoke", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    profile = load_profile("smoke", _overrides())
    device = setup_runtime(profile)
    store = ResultStore(root / "store", published=[])
    manifest = publish(profile, store, device, root / "snapshot")
    return profile, device, store, root / "snapshot", manifest


def test_the_snapshot_is_complete_small_and_withholds_other_weights(published):
    profile, device, store, snapshot, manifest = published
    assert check(profile, device, snapshot) == []
    assert manifest["bytes"] < 30 * 2**20 and manifest["entries"]["models"] >= 4
    kept = {
        store.entry("models", r.spec.store_config()).key
        for *_, r in pretrained_runs(profile, store, device)
    }
    models = sorted((snapshot / "store" / "models").iterdir())
    shipped = {m.name for m in models if (m / "model.pt").exists()}
    withheld = {m.name for m in models if (m / ("model.pt" + WITHHELD_SUFFIX)).exists()}
    assert kept and shipped == kept
    assert withheld == {m.name for m in models} - kept
    with_images = [
        "x_adv" in torch.load(p, weights_only=True)
        for p in (snapshot / "store" / "manipulations").glob("*/result.pt")
    ]
    n_motivation = len(motivation_runs(profile))
    assert sum(with_images) == n_motivation < len(with_images)
    readme = (snapshot / "README.md").read_text()
    assert f"{manifest['files']} files" in readme and "`smoke` profile" in readme


def test_an_entry_missing_from_the_snapshot_is_named(published):
    _, device, _, snapshot, _ = published
    other = load_profile("smoke", _overrides(seeds=[0, 1]))
    missing = check(other, device, snapshot)
    assert "[models] digits standard seed 1" in missing


def test_load_model_serves_the_published_weights_with_the_published_accuracy(
    published, tmp_path
):
    profile, device, _, snapshot, _ = published
    store = ResultStore(tmp_path / "empty", published=[snapshot / "store"])
    model = load_model(profile, "digits", "MAT", seed=0, device=device, store=store)
    exp = profile.experiment("digits")
    run = model_kinds(profile, "digits", 0)["MAT"]
    trained = get_model(run.spec, store, device, progress=False)
    stored = evaluate_model(trained, exp, store, exp.eval.attack)  # read, not computed
    x, y = evaluation_images(profile, "digits")
    ours = evaluate(model, x, y, exp.eval.attack, exp.eval.batch_size, progress=False)
    assert not model.training and ours.clean_acc == stored["clean_acc"]
    assert not (tmp_path / "empty").exists()  # nothing was computed or written
    with pytest.raises(
        ConfigError,
        match=r"kind='robust' is not allowed for 'digits': the kinds are 'standard'",
    ):
        load_model(profile, "digits", "robust", store=store)
    with pytest.raises(ConfigError, match=r"experiment='cifar' is not allowed"):
        load_model(profile, "cifar", "MAT", store=store)
    with pytest.raises(ConfigError, match=r"seed=5 is not allowed"):
        load_model(profile, "digits", "MAT", seed=5, store=store)


def test_verify_recomputes_a_sample_bit_identically(published):
    profile, device, _, snapshot, _ = published
    assert damaged_files(snapshot) == []  # publish recorded every file's hash
    table, verdicts = verify(profile, device, snapshot)
    stages = {e.split("]")[0] + "]" for e in table["entry"]}
    assert {"[models]", "[evals]", "[pairs]", "[attacks]"} <= stages
    assert table["identical"].all(), table.to_string()
    assert (table["max_abs_diff"].fillna(0) == 0).all()
    assert len(verdicts) == 6 and verdicts["same"].all(), verdicts.to_string()


def test_verify_compares_like_with_like_when_the_pairs_move(published, monkeypatch):
    """On another machine the recomputed pairs may differ (here: every target moved by one cluster), so the
    chain's attack has another key than the shipped one: verify attacks the shipped pairs with the
    recomputed model (bit-identical here) and compares the chain's own attack by its means."""
    profile, device, _, snapshot, _ = published
    real = explanation_attack.select_pairs

    def moved(*args, **kwargs):
        pairs = real(*args, **kwargs)
        return replace(pairs, targets=np.roll(pairs.targets, 1))

    monkeypatch.setattr(explanation_attack, "select_pairs", moved)
    table, verdicts = verify(profile, device, snapshot)
    pairs = table[table["entry"].str.startswith("[pairs]")].iloc[0]
    assert not pairs["identical"] and pairs["max_abs_diff"] > 0
    like = table[table["entry"].str.endswith("shipped pairs")]
    chain = table[table["entry"].str.endswith("recomputed pairs")]
    assert len(like) >= 2 and like["identical"].all(), like.to_string()
    tensors = chain[chain["quantity"].str.contains(".pt: ", regex=False)]
    assert len(chain) == len(like) and len(tensors) >= 2
    assert tensors["quantity"].str.endswith("(mean; other pairs)").all()
    assert not tensors["identical"].any()
    models = table[table["entry"].str.startswith("[models]")]
    assert models["identical"].all() and verdicts["same"].all()


def test_the_readme_table_has_one_row_per_claim_with_its_chapter(published, tmp_path):
    profile, device, _, snapshot, _ = published
    store = ResultStore(tmp_path / "empty", published=[snapshot / "store"])
    table = results_markdown(profile, store, device)
    rows = [
        line for line in table.splitlines() if line[:2] == "| " and line[2].isdigit()
    ]
    assert len(rows) == 6 and "book/05_sep.py" in rows[3]
    readme = f"intro\n{README_START}\nold\n{README_END}\nrest"
    assert (
        with_results(readme, table)
        == f"intro\n{README_START}\n{table}{README_END}\nrest"
    )
    with pytest.raises(StoreError, match="markers"):
        with_results("no markers", table)


def test_an_oversized_snapshot_is_refused_naming_where_its_bytes_go():
    mib = 2**20
    sizes = {
        "store/models/a/model.pt": 3 * mib,
        "store/models/b/model.pt": 3 * mib,
        "store/models/a/metrics.json": 100,
        "plan-log.jsonl": 10,
    }
    assert size_parts(sizes)[0] == ("models/*/model.pt", 6.0, 2)
    check_limits(sizes)  # within the limits: no error
    with pytest.raises(StoreError, match=r"store/models/a/model.pt is 6.0 MB"):
        check_limits({"store/models/a/model.pt": 6 * mib})
    many = {f"store/models/{i}/model.pt": 4 * mib for i in range(8)}
    with pytest.raises(
        StoreError,
        match=r"the snapshot is 32.0 MB: at most 30.0 MB in all; the largest parts: "
        r"models/\*/model.pt 32.0 MB \(8 files\)",
    ):
        check_limits(many)
