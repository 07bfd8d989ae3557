"""From a profile to stored results: training, evaluation, the roster of models, the cached
explanation attack and landscapes, tasks and command lines."""
