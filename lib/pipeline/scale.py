"""The scale of the explanation loss taken apart, per pair of a stored attack: L_start = concentration x
scale-free distance (``measure.metrics.concentration``), recomputed from the model and the pair's images
(the maps at the start of the attack; the adversarial images are not needed). The recomputed L_start must
equal the stored one, which checks that the maps are the attack's own.

Only models whose weights are at hand are read (``pretrained.pretrained_runs``: the first seed's models the
published snapshot ships), so rendering the book from the snapshot retrains nothing; the full decomposition
over every model needs the filled store (the next full run of the ``cpu`` store)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.measure.explain import explanation_map
from lib.measure.metrics import concentration, mse
from lib.nn.pgd import frozen
from lib.pipeline.explanation_attack import (
    attack_config,
    evaluation_images,
    prototype_pairs,
)
from lib.pipeline.runs import Run
from lib.pipeline.training import get_model

MAX_RELATIVE_GAP = (
    1e-4  # the recomputed L_start against the stored one (float32 maps, other batching)
)


def start_scale(
    model: torch.nn.Module,
    x_victims: torch.Tensor,
    x_targets: torch.Tensor,
    method: str,
    method_kwargs: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair, (L_start, concentration) of the maps the attack starts from: the target's map (its own
    predicted class) and the victim's map for its predicted class, as ``measure.manipulate.manipulate``
    computes them."""
    kw = method_kwargs or {}
    with frozen(model):
        with torch.no_grad():
            labels = model(x_victims).argmax(1)
        maps_t = explanation_map(model, x_targets, method, **kw).detach()
        maps_v = explanation_map(model, x_victims, method, target=labels, **kw).detach()
    return mse(maps_v, maps_t), concentration(maps_v, maps_t)


def scale_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    runs: list[Run],
    relation: pd.DataFrame,
) -> pd.DataFrame:
    """One row per (run, explanation method) of ``relation`` (a ``relation_table`` or main table holding the
    runs' stored attacks: columns ``key``, ``explanation``, ``l_start_pairs``, ``l_end_pairs``,
    ``pair_index``) whose run is in ``runs``: the model's L_start and L_end (means over the kept pairs, 1e-7)
    and its concentration (mean over the same pairs, 1e-7), the scale-free start distance L_start /
    concentration, and ``gap``: the largest relative difference between the recomputed and the stored
    per-pair L_start (a check, expected about 1e-6)."""
    rows = []
    by_experiment: dict[str, list[Run]] = {}
    for run in runs:
        by_experiment.setdefault(run.experiment, []).append(run)
    for name, exp_runs in by_experiment.items():
        pairs = prototype_pairs(profile, name, store, device)
        x, _ = evaluation_images(profile, name)
        x_v, x_t = x[pairs.victims].to(device), x[pairs.targets].to(device)
        for run in exp_runs:
            trained = get_model(run.spec, store, device, progress=False)
            mine = relation[relation["key"] == trained.entry.key]
            for r in mine.itertuples():
                cfg = attack_config(profile, r.explanation)
                l_start, conc = start_scale(
                    trained.model, x_v, x_t, r.explanation, cfg.method_kwargs
                )
                kept = np.asarray(r.pair_index, int)
                ls = 1e7 * l_start.cpu().numpy().astype(float)[kept]
                c = 1e7 * conc.cpu().numpy().astype(float)[kept]
                stored = np.asarray(r.l_start_pairs, float)
                rows.append(
                    {
                        **run.describe(),
                        "key": trained.entry.key,
                        "explanation": r.explanation,
                        "l_start_1e-7": float(stored.mean()),
                        "l_end_1e-7": float(np.mean(r.l_end_pairs)),
                        "relative_reduction": float(np.mean(r.reduction_pairs)),
                        "concentration_1e-7": float(c.mean()),
                        "distance": float(stored.mean() / c.mean()),
                        "pairs": len(kept),
                        "gap": float(np.max(np.abs(ls - stored) / stored)),
                    }
                )
    return pd.DataFrame(rows)


def weights_at_hand(run: Run, store: ResultStore) -> bool:
    """Whether the run's weights are in the store (a writable or published layer) as a file, so reading
    them retrains nothing (a snapshot withholds most weights)."""
    return store.entry("models", run.spec.store_config()).file("model.pt").exists()
