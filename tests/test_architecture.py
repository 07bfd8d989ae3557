"""The library's shape: imports go one way (floors), and store keys of fixed configurations never change.

Pinned keys were computed by main at bfa1363, before the study layer was refactored; a user's store filled
then must be found by every later version. Change a pinned key only together with a deliberate code-version
bump of that stage, and say so in the commit.
"""
import ast
from pathlib import Path

import numpy as np
import pytest

from conftest import PROJECT

LIB = PROJECT / "lib"
# Lower floors never import higher ones; modules on one floor may import each other only without cycles.
FLOORS = [
    {"errors"},
    {"schema", "components", "stats"},
    {"config", "store", "data", "metrics", "models", "kinds"},
    {"explain", "attacks", "landscape"},
    {"trades", "manipulate", "curvature", "prototypes", "plots", "sep"},
    {"train"},
    {"runs", "work", "cli"},
    {"sweep"},
    {"motivation"},
    {"prototype_study"},
    {"landscape_study"},
    {"sep_study"},
    {"curvature_study"},
    {"cross_method", "budget_study"},
    {"drivers_study", "findings"},
    {"tasks", "book"},
]


def lib_imports(path: Path) -> set[str]:
    """Every lib module a file imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("lib."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lib."))
    return found


def graph() -> dict[str, set[str]]:
    return {p.stem: lib_imports(p) - {p.stem} for p in LIB.glob("*.py") if p.stem != "__init__"}


def test_every_module_has_a_floor():
    floored = set().union(*FLOORS)
    assert set(graph()) <= floored, f"modules without a floor: {sorted(set(graph()) - floored)}"


def test_imports_go_down_or_sideways_never_up():
    floor = {m: i for i, f in enumerate(FLOORS) for m in f}
    upward = [(m, d) for m, deps in graph().items() for d in deps if floor[d] > floor[m]]
    assert not upward, f"imports from a higher floor: {upward}"


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in g.get(m, ()):
            if state.get(d) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(path + [m, d])}")
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m, [])


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    import test_architecture as me

    monkeypatch.setattr(me, "graph", lambda: {"a": {"b"}, "b": {"c"}, "c": {"a"}})
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycle()


# ------------------------------------------------------------------------------------------------
# store keys are a contract

PINNED = {
    # smoke's attacks stop early (window < steps): their keys changed on purpose with the stopping rule's
    # version 2 (it compared twin losses across annealed betas); bfa1363 had d5343c01..., 0df0cbc7..., 07b3ca96...
    "smoke": {"model standard seed 0": "83ffd0b63566c8ba", "model TRADES β=0.25 seed 0": "73c9bd2944d29ae5",
              "model MAT seed 1": "8a3e25061334cc7c", "eval": "365c9adfd4c1556f", "motivation": "6268947e9a436883",
              "pairs": "0f66e392c8373126", "attack gradient": "ef311e64abbe168a",
              "attack grad_x_input": "9e244ecdf060dd42", "landscape": "efacbedaef7bb790"},
    "cpu": {"model standard seed 0": "0ac825605c191b4a", "model TRADES β=0.25 seed 0": "dba5a4eae5cb56b8",
            "model MAT seed 2": "6a561be690713154", "eval": "9e4f20f041a52ed3", "motivation": "71928f4b5de2e6fb",
            "pairs": "fd94c11c847747b1", "attack gradient": "0a97e92c59488ee3",
            "attack grad_x_input": "313d85334f4985ba", "landscape": "d748312f4a9da212"},
}


@pytest.mark.parametrize("profile", sorted(PINNED))
def test_store_keys_of_fixed_configurations_never_change(profile):
    from lib import landscape_study as ls
    from lib import prototype_study as ps
    from lib.config import load_profile
    from lib.manipulate import manipulation_config, seeded_pairs_for
    from lib.motivation import attack_settings
    from lib.store import config_key
    from lib.sweep import eval_config, model_key, sweep_runs

    P = load_profile(profile)
    name = P.run[0]
    exp = P.experiment(name)
    runs = sweep_runs(P, [name])
    got = {f"model {r.kind.label} seed {r.seed}": model_key(r) for r in runs[:2] + runs[-1:]}
    mk = model_key(runs[1])
    got["eval"] = config_key("evals", eval_config(mk, exp, exp.eval.attack))
    labels = np.zeros(exp.eval.n, dtype=np.int64)
    labels[::2] = 1  # seeded_pairs_for needs labels only to pick targets; the id depends on the settings
    import torch

    ids = seeded_pairs_for(exp, P.manipulation, torch.as_tensor(labels))[2]
    got["motivation"] = config_key("manipulations", manipulation_config(mk, ids, attack_settings(P)))
    got["pairs"] = config_key("pairs", ps.pairs_config(P, name))
    pid = {"dataset": exp.data.name, "n_test": exp.eval.n, "subset_seed": exp.data.subset_seed,
           "victims": [1, 2, 3], "targets": [4, 5, 6]}
    for method in P.prototypes.methods:
        got[f"attack {method}"] = config_key("manipulations",
                                             manipulation_config(mk, pid, ps.attack_config(P, method)))
    got["landscape"] = config_key("landscapes", ls.landscape_config(P, name, mk, [1, 2, 3], [4, 5, 6]))
    assert got == PINNED[profile]


def test_tasks_list_without_computing(store):
    from lib.config import load_profile
    from lib.tasks import plan

    P = load_profile("smoke", {"seeds": [0], "sweep.betas": [0.0, 1.0], "sweep.mat": False})
    tasks = plan(P, store, "cpu")
    stages = [t.stage for t in tasks]
    assert stages.index("models") < stages.index("evals") < stages.index("pairs") < stages.index("attacks")
    assert not any(t.done(store) for t in tasks)
    assert [t.key(store) for t in tasks if t.stage == "attacks"] == [None] * 4  # after the pairs
    assert all(t.key(store) for t in tasks if t.stage in ("models", "evals", "pairs", "motivation"))
    assert not store.root.exists() or not any(store.root.rglob("*.pt"))  # nothing was computed
