"""Trained models layer: training set, tuned members, ensemble, evaluation, registry."""
