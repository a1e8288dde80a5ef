"""After a training run: judge the freshly registered model (the challenger) against the
champion on the fixed evaluation sets (the holdout of corrected.gz and the held-out IoT-23
scenarios), promote it only if the rules in params allow, and log the decision either way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from iot_anomaly.config import Paths
from iot_anomaly.monitoring import decisions
from iot_anomaly.monitoring.promotion import compare, evaluation_set, figures, scenario_set
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
    old_model, new_model = store.load(champion), store.load(challenger)
    old = figures(old_model, frame)
    new = figures(new_model, frame)
    promote, lines = compare(old, new, params.promotion.rules, "corrected.gz holdout: ")
    details: dict[str, Any] = {}
    folder = paths.root / params.data.iot23_dir
    if cfg.holdout_scenarios and folder.is_dir():
        scenarios = scenario_set(folder, cfg, params.ingest, params.crossdata.prefer)
        progress(f"scoring the held-out scenarios ({len(scenarios):,} connections)")
        old_s, new_s = figures(old_model, scenarios), figures(new_model, scenarios)
        ok, more = compare(old_s, new_s, params.promotion.scenario_rules, "held-out IoT-23: ")
        promote, lines = promote and ok, lines + more
        details = {
            "scenarios": cfg.holdout_scenarios,
            "scenario_rows": len(scenarios),
            "scenario_attacks": int((scenarios["category"] != "normal").sum()),
            "champion_scenario_figures": old_s,
            "challenger_scenario_figures": new_s,
        }
    else:
        lines.append(f"held-out IoT-23 scenarios: none in {folder}, not compared")
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
        **details,
        trigger=reason,
        now_serving=challenger if promote else champion,
    )
