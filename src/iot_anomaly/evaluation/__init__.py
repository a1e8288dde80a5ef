"""Evaluation layer: metrics, each model's results, the seed study's summary, plots and the
comparison with the paper, as pure functions."""
