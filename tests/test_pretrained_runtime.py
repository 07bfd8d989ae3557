"""``lib.load_model`` loads (or retrains) a model under the profile's runtime, as the book computes it, and
gives the caller back its own thread count and determinism settings."""

import pytest
import torch

import lib.pretrained as pretrained
from lib.core.profile import load_profile


class _Seen:
    """Stands for a stored model: records the runtime in force when its network is loaded."""

    def __init__(self):
        self.runtime = None

    @property
    def model(self) -> torch.nn.Module:
        self.runtime = (
            torch.get_num_threads(),
            torch.are_deterministic_algorithms_enabled(),
        )
        return torch.nn.Linear(1, 1)


@pytest.mark.parametrize("caller_deterministic", [False, True])
def test_load_model_runs_under_the_profile_runtime_and_restores_the_callers(
    monkeypatch, caller_deterministic
):
    seen = _Seen()
    monkeypatch.setattr(pretrained, "get_model", lambda *a, **k: seen)
    profile = load_profile("smoke", {"threads": 1})
    torch.set_num_threads(3)
    torch.use_deterministic_algorithms(caller_deterministic)
    model = pretrained.load_model(profile, "digits", "MAT")
    assert not model.training
    assert seen.runtime == (1, True)  # the profile's thread count and determinism
    assert torch.get_num_threads() == 3
    assert torch.are_deterministic_algorithms_enabled() is caller_deterministic


def test_the_callers_runtime_comes_back_after_an_error(monkeypatch):
    def failing(*args, **kwargs):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")

    monkeypatch.setattr(pretrained, "get_model", failing)
    torch.set_num_threads(3)
    torch.use_deterministic_algorithms(False)
    with pytest.raises(RuntimeError, match="boom"):
        pretrained.load_model(load_profile("smoke", {"threads": 1}), "digits", "MAT")
    assert torch.get_num_threads() == 3
    assert not torch.are_deterministic_algorithms_enabled()
