"""Evaluation layer: metrics, plots and the comparison with the paper, as pure functions."""
