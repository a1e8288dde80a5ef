"""Monitoring: drift reports on new traffic (Evidently), the drift decision, the champion
store with challenger-vs-champion promotion, and the decision log."""
