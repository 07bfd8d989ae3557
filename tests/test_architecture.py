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
# The packages of lib, bottom to top: a module imports only from its own package or lower ones. Inside a
# package imports may go any way without a cycle, except in ``studies``, whose modules never import each
# other (each answers one question from the layers below). ``plan`` sits on top: it lists every study's work; ``pretrained`` (lib.load_model) and ``publish`` (the
# published snapshot) read the store through it, and the package's own ``__init__`` re-exports them.
PACKAGES = [
    "core",
    "nn",
    "measure",
    "analysis",
    "pipeline",
    "studies",
    "report",
    "plan",
    "pretrained",
    "publish",
    "",  # lib/__init__.py: the public entry points (lib.load_model)
]
ISOLATED = {"studies"}


def module_name(path: Path) -> str:
    """``lib/pipeline/roster.py`` -> ``pipeline.roster``; ``lib/plan.py`` -> ``plan``."""
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lib_imports(path: Path) -> set[str]:
    """Every lib module a file imports (``pipeline.roster``), at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(
                f"{path}: relative import; lib uses absolute imports (from lib.x.y import ...)"
            )
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("lib.")
        ):
            base = node.module[4:]
            for a in (
                node.names
            ):  # ``from lib.studies import sep`` imports the module lib.studies.sep
                found.add(
                    f"{base}.{a.name}"
                    if (LIB / base / f"{a.name}.py").exists()
                    else base
                )
        elif isinstance(node, ast.Import):
            found.update(a.name[4:] for a in node.names if a.name.startswith("lib."))
    return found


def graph() -> dict[str, set[str]]:
    return {
        module_name(p): lib_imports(p) - {module_name(p)} for p in LIB.rglob("*.py")
    }


def package(module: str) -> str:
    return module.split(".")[0]


def violations(g: dict[str, set[str]]) -> list[str]:
    """Imports that break the rule: into a higher package, or between two studies."""
    rank = {p: i for i, p in enumerate(PACKAGES)}
    out = []
    for m, deps in g.items():
        for d in deps:
            if rank[package(d)] > rank[package(m)]:
                out.append(
                    f"{m} imports {d} (package {package(d)} is above {package(m)})"
                )
            elif (
                package(m) == package(d) in ISOLATED
                and m != package(m)
                and d != package(d)
            ):
                out.append(
                    f"{m} imports {d} (modules of {package(m)} never import each other)"
                )
    return out


def test_every_module_is_in_a_package_of_the_order():
    assert {package(m) for m in graph()} <= set(PACKAGES), sorted(
        {package(m) for m in graph()}
    )


def test_imports_go_down_and_studies_stand_alone():
    assert not violations(graph()), "\n".join(violations(graph()))


def test_the_rule_catches_a_planted_upward_import_and_a_study_importing_a_study():
    planted = graph()
    planted["nn.models"] = planted["nn.models"] | {"pipeline.roster"}
    planted["studies.sep"] = planted["studies.sep"] | {"studies.prototypes"}
    assert violations(planted) == [
        "nn.models imports pipeline.roster (package pipeline is above nn)",
        "studies.sep imports studies.prototypes (modules of studies never import each other)",
    ]


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
    # The attacks' and landscapes' keys changed on purpose with the twin's hand-written softplus (issue 20:
    # manipulation version 2, landscape version 3); 059c1a2 had, smoke: 6268947e..., ef311e64..., 9e244ecd...,
    # efacbeda...; cpu: 71928f4b..., 0a97e92c..., 313d8533..., d748312f...
    "smoke": {
        "model standard seed 0": "83ffd0b63566c8ba",
        "model TRADES β=0.25 seed 0": "73c9bd2944d29ae5",
        "model MAT seed 1": "8a3e25061334cc7c",
        "eval": "365c9adfd4c1556f",
        "motivation": "edde6796305f488a",
        "pairs": "0f66e392c8373126",
        "attack gradient": "c72dfa136c540ec1",
        "attack grad_x_input": "7970665a9bcf004f",
        "landscape": "328684ad55bd265b",
    },
    "cpu": {
        "model standard seed 0": "0ac825605c191b4a",
        "model TRADES β=0.25 seed 0": "dba5a4eae5cb56b8",
        "model MAT seed 2": "6a561be690713154",
        "eval": "9e4f20f041a52ed3",
        "motivation": "7d810c0650a71392",
        "pairs": "fd94c11c847747b1",
        "attack gradient": "2dd1b52eb2d63fef",
        "attack grad_x_input": "e420328cdd74e5bd",
        "landscape": "71e98501739aea46",
    },
}


@pytest.mark.parametrize("profile", sorted(PINNED))
def test_store_keys_of_fixed_configurations_never_change(profile):
    from lib.core.profile import load_profile
    from lib.core.store import config_key
    from lib.measure.manipulate import manipulation_config, seeded_pairs_for
    from lib.pipeline.evaluation import eval_config, model_key
    from lib.pipeline.explanation_attack import (
        attack_config,
        attack_settings,
        pairs_config,
    )
    from lib.pipeline.landscapes import landscape_config
    from lib.pipeline.roster import sweep_runs

    P = load_profile(profile)
    name = P.run[0]
    exp = P.experiment(name)
    runs = sweep_runs(P, [name])
    got = {
        f"model {r.kind.label} seed {r.seed}": model_key(r)
        for r in runs[:2] + runs[-1:]
    }
    mk = model_key(runs[1])
    got["eval"] = config_key("evals", eval_config(mk, exp, exp.eval.attack))
    labels = np.zeros(exp.eval.n, dtype=np.int64)
    labels[::2] = (
        1  # seeded_pairs_for needs labels only to pick targets; the id depends on the settings
    )
    import torch

    ids = seeded_pairs_for(exp, P.manipulation, torch.as_tensor(labels))[2]
    got["motivation"] = config_key(
        "manipulations", manipulation_config(mk, ids, attack_settings(P))
    )
    got["pairs"] = config_key("pairs", pairs_config(P, name))
    pid = {
        "dataset": exp.data.name,
        "n_test": exp.eval.n,
        "subset_seed": exp.data.subset_seed,
        "victims": [1, 2, 3],
        "targets": [4, 5, 6],
    }
    for method in P.prototypes.methods:
        got[f"attack {method}"] = config_key(
            "manipulations", manipulation_config(mk, pid, attack_config(P, method))
        )
    got["landscape"] = config_key(
        "landscapes", landscape_config(P, name, mk, [1, 2, 3], [4, 5, 6])
    )
    assert got == PINNED[profile]


def test_tasks_list_without_computing(store):
    from lib.core.profile import load_profile
    from lib.plan import plan

    P = load_profile(
        "smoke", {"seeds": [0], "sweep.betas": [0.0, 1.0], "sweep.mat": False}
    )
    tasks = plan(P, store, "cpu")
    stages = [t.stage for t in tasks]
    assert (
        stages.index("models")
        < stages.index("evals")
        < stages.index("pairs")
        < stages.index("attacks")
    )
    assert not any(t.done(store) for t in tasks)
    assert [t.key(store) for t in tasks if t.stage == "attacks"] == [
        None
    ] * 4  # after the pairs
    assert all(
        t.key(store)
        for t in tasks
        if t.stage in ("models", "evals", "pairs", "motivation")
    )
    assert not store.root.exists() or not any(
        store.root.rglob("*.pt")
    )  # nothing was computed
