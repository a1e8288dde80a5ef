"""After a training run: judge the freshly registered model (the challenger) against the
champion on the fixed evaluation set, promote it only if the rule in params allows, and
log the decision either way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from iot_anomaly.config import Paths
from iot_anomaly.monitoring import decisions
from iot_anomaly.monitoring.promotion import compare, evaluation_set, figures
from iot_anomaly.monitoring.store import store_from_params
from iot_anomaly.params import Params
from iot_anomaly.registry import registry_file


def run(
    params: Params,
    paths: Paths,
    reason: str = "manual",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Compare, promote or keep, record; return the decision with both models' figures
    (params groups `promotion` and `monitor`)."""
    log = paths.root / params.promotion.decision_log
    store = store_from_params(params.promotion, paths)
    registry = registry_file(paths)
    if not registry.is_file():
        raise FileNotFoundError(f"{registry}: no model registered; run `dvc repro` first")
    challenger = json.loads(registry.read_text())["version"]
    champion = store.current()
    cfg = params.monitor
    if champion == challenger:
        entry = decisions.record(
            log,
            "promotion",
            "unchanged",
            "the training run produced the champion's own version (nothing to compare)",
            version=challenger,
            trigger=reason,
        )
        return entry
    progress("copying the challenger into the champion store")
    store.add(paths, cfg.reference_rows, cfg.seed)
    if champion is None:
        store.promote(challenger)
        return decisions.record(
            log,
            "promotion",
            "promoted",
            "no champion yet: the first model becomes champion",
            version=challenger,
            trigger=reason,
        )
    frame = evaluation_set(cfg, paths)
    progress(f"scoring the evaluation set ({len(frame):,} rows) with both models")
    old = figures(store.load(champion), frame)
    new = figures(store.load(challenger), frame)
    promote, lines = compare(old, new, params.promotion.rules)
    if promote:
        store.promote(challenger)
    return decisions.record(
        log,
        "promotion",
        "promoted" if promote else "rejected",
        "; ".join(lines),
        champion=champion,
        challenger=challenger,
        evaluation_rows=len(frame),
        champion_figures=old,
        challenger_figures=new,
        trigger=reason,
        now_serving=challenger if promote else champion,
    )
