"""lib: the library behind the reproducible book of Chen et al., "Are Classification Robustness and
Explanation Robustness Really Strongly Correlated?" (arXiv 2403.06013). An independent re-implementation."""

__version__ = "0.1.0"
