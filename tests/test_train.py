from dataclasses import replace

import pytest
import torch

from lib.core.errors import TrainingDivergedError
from lib.core.settings import AttackConfig, DataConfig, ModelConfig, TrainConfig
from lib.nn.data import load_dataset
from lib.nn.pgd import evaluate
from lib.pipeline.training import RunSpec, get_model, learning_rate, train

ATTACK = AttackConfig(eps=0.1, step_size=0.05, steps=2)


def _spec(method="standard", beta=0.0, epochs=3, seed=0, n_train=400, **kw):
    return RunSpec(
        DataConfig("digits", n_train=n_train, n_test=200),
        ModelConfig("convnet", width=4),
        TrainConfig(
            **{
                "method": method,
                "beta": beta,
                "seed": seed,
                "epochs": epochs,
                "batch_size": 32,
                "lr": 0.05,
                "warmup_epochs": 0.2,
                "attack": ATTACK,
                "monitor_n": 50,
                **kw,
            }
        ),
    )


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_few_epochs_raise_accuracy_on_digits(store):
    x, y = load_dataset("digits", "test")
    torch.manual_seed(0)
    from lib.pipeline.training import build_for

    untrained = evaluate(
        build_for(_spec(), "cpu").eval(), x, y, ATTACK, progress=False
    ).clean_acc
    trained = get_model(_spec(epochs=4, n_train=None), store, "cpu", progress=False)
    acc = evaluate(trained.model, x, y, ATTACK, progress=False).clean_acc
    assert untrained < 0.3 and acc > 0.7, (untrained, acc)
    losses = [h["loss"] for h in trained.history]
    assert losses[-1] < losses[0] and len(trained.history) == 4
    assert {
        "seconds",
        "monitor_clean_acc",
        "monitor_pgd_acc",
        "train_acc",
        "lr_end",
    } <= set(trained.history[0])


@pytest.mark.parametrize("method, beta", [("trades", 2.0), ("mat", 0.0)])
def test_interrupted_training_resumes_to_identical_weights(
    store, tmp_path, method, beta
):
    from lib.core.store import ResultStore

    spec = _spec(method, beta, epochs=3)
    straight = get_model(
        spec, ResultStore(tmp_path / "straight"), "cpu", progress=False
    )

    class Killed(Exception):
        pass

    def kill_after_two(epoch, history):
        if epoch == 2:
            raise Killed

    entry = store.entry("models", spec.store_config()).ensure()
    with pytest.raises(Killed):
        train(spec, entry, "cpu", progress=False, on_epoch_end=kill_after_two)
    assert entry.has("partial.pt") and not entry.has("model.pt")
    resumed = get_model(spec, store, "cpu", progress=False)
    assert torch.equal(_weights(straight.model), _weights(resumed.model))
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert not entry.has("partial.pt")
    # A finished model is read back, never retrained.
    again = get_model(spec, store, "cpu", progress=False)
    assert (
        torch.equal(_weights(again.model), _weights(resumed.model))
        and again.history == resumed.history
    )


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    from lib.core.store import ResultStore

    a = get_model(
        _spec("trades", 1.0, epochs=1),
        ResultStore(tmp_path / "a"),
        "cpu",
        progress=False,
    )
    b = get_model(
        _spec("trades", 1.0, epochs=1),
        ResultStore(tmp_path / "b"),
        "cpu",
        progress=False,
    )
    c = get_model(
        _spec("trades", 1.0, epochs=1, seed=1),
        ResultStore(tmp_path / "c"),
        "cpu",
        progress=False,
    )
    assert torch.equal(_weights(a.model), _weights(b.model))
    assert not torch.equal(_weights(a.model), _weights(c.model))


def test_non_finite_loss_stops_with_the_config_and_epoch_and_saves_no_model(store):
    spec = _spec(epochs=2, lr=1e30)
    with pytest.raises(TrainingDivergedError) as err:
        get_model(spec, store, "cpu", progress=False)
    msg = str(err.value)
    assert "digits convnet standard seed=0" in msg and "epoch 1" in msg
    assert not store.entry("models", spec.store_config()).has("model.pt")


def test_learning_rate_warms_up_then_decays_to_zero():
    cfg = TrainConfig(epochs=10, lr=0.1, warmup_epochs=1.0)
    assert learning_rate(cfg, 0.0) == 0 and learning_rate(cfg, 0.5) == pytest.approx(
        0.05
    )
    assert learning_rate(cfg, 1.0) == pytest.approx(0.1) and learning_rate(
        cfg, 10.0
    ) == pytest.approx(0.0)
    assert learning_rate(cfg, 5.5) == pytest.approx(0.05)


def test_changing_any_setting_trains_a_new_model(store):
    a = store.entry("models", _spec(epochs=1).store_config()).key
    b = store.entry(
        "models",
        replace(
            _spec(epochs=1), train=replace(_spec().train, epochs=1, lr=0.051)
        ).store_config(),
    ).key
    assert a != b
