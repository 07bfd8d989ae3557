"""lib: the library behind the reproducible book of Chen et al., "Are Classification Robustness and
Explanation Robustness Really Strongly Correlated?" (arXiv 2403.06013). An independent re-implementation."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``lib.load_model``, imported on first use so that ``import lib`` stays light."""
    if name == "load_model":
        from lib.pretrained import load_model

        return load_model
    raise AttributeError(f"module 'lib' has no attribute {name!r}")
