"""Cross-dataset evaluation on IoT-23: which file stands for each scenario, the
leave-one-scenario-out fold plan, and the figures of a model's verdicts on a scenario's rows.

Pure functions of names, labels and verdicts; the `crossdata` stage (stages/crossdata.py)
ingests the scenarios, trains and scores the models, and calls these. A verdict is 1 when a
model calls a row an attack; a row is an attack when its IoT-23 label maps to a KDD category
other than normal (params `ingest.labels`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

#: Where reports/metrics.json keeps the cross-dataset figures, beside the protocols.
METRICS_KEY: Final = "iot23"


def report_file(reports: Path) -> Path:
    """The `crossdata` stage's report in a reports folder."""
    return reports / "crossdata.json"


Format = Literal["csv", "conn.log"]
#: How each IoT-23 file format's name ends; the scenario is the name before it.
SUFFIXES: Final[dict[str, str]] = {"csv": "-labeled.csv", "conn.log": ".conn.log.labeled"}


def scenario_of(path: Path) -> tuple[str, str] | None:
    """(scenario, format) of an IoT-23 file name; None for any other file."""
    for fmt, suffix in SUFFIXES.items():
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)], fmt
    return None


def scenario_files(paths: Iterable[Path], prefer: str) -> dict[str, Path]:
    """One file per scenario, sorted by scenario: the `prefer` format where a scenario has
    both (IoT-23's CSV and its conn.log of one scenario hold the same connections, so
    reading both would count every connection twice), else the one it has."""
    if prefer not in SUFFIXES:
        raise ValueError(f"unknown format {prefer!r}; expected one of {sorted(SUFFIXES)}")
    found: dict[str, dict[str, Path]] = {}
    for path in paths:
        named = scenario_of(path)
        if named is not None:
            found.setdefault(named[0], {})[named[1]] = path
    return {
        name: formats.get(prefer) or next(iter(formats.values()))
        for name, formats in sorted(found.items())
    }


@dataclass(frozen=True)
class Fold:
    """One fold of leave-one-scenario-out: the models learn from the `train` scenarios
    (beside the KDD rows) and are scored on `test` only."""

    test: str
    train: tuple[str, ...]


def fold_plan(scenarios: Sequence[str]) -> list[Fold]:
    """Leave one scenario out: one fold per scenario, which learns from every other one."""
    if len(set(scenarios)) != len(scenarios):
        raise ValueError(f"a scenario is named twice: {list(scenarios)}")
    return [Fold(s, tuple(o for o in scenarios if o != s)) for s in scenarios]


def canonical_labels(labels: pd.Series) -> pd.Series:
    """IoT-23 labels with one spelling each: labels that differ only in case (the honeypot
    files write `benign`, the malware captures `Benign`) take their most frequent spelling
    (the first seen on a tie)."""
    text = labels.astype(str)
    lower = text.str.lower()
    counts = pd.DataFrame({"lower": lower, "text": text}).value_counts(sort=False)
    spelling: dict[str, str] = {}
    best: dict[str, int] = {}
    for (low, spelt), n in counts.items():
        if n > best.get(low, 0):
            spelling[low], best[low] = spelt, int(n)
    return lower.map(spelling)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def verdict_figures(attack: np.ndarray, flagged: np.ndarray, labels: pd.Series) -> dict[str, Any]:
    """The figures of verdicts on labelled rows: binary accuracy, attack recall (None
    without attack rows), false-alarm rate on benign rows (None without benign rows), the
    counts they come from, and per IoT-23 label its rows and the share flagged as attack
    (for a benign label: its false alarms)."""
    attack = np.asarray(attack).astype(bool)
    flagged = np.asarray(flagged).astype(bool)
    if not (len(attack) == len(flagged) == len(labels)):
        raise ValueError("attack, flagged and labels must have one entry per row")
    tp = int((attack & flagged).sum())
    fn = int((attack & ~flagged).sum())
    fp = int((~attack & flagged).sum())
    tn = int((~attack & ~flagged).sum())
    per_label = {}
    names = canonical_labels(pd.Series(labels).reset_index(drop=True))
    for label, rows in names.groupby(names, sort=True).groups.items():
        positions = np.asarray(rows)
        per_label[str(label)] = {
            "rows": len(positions),
            "flagged": float(flagged[positions].mean()),
        }
    return {
        "rows": len(attack),
        "attack_rows": tp + fn,
        "benign_rows": fp + tn,
        "accuracy": _share(tp + tn, len(attack)),
        "attack_recall": _share(tp, tp + fn),
        "false_alarm_rate": _share(fp, fp + tn),
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "by_label": per_label,
    }


def model_figures(
    scored: Mapping[str, tuple[np.ndarray, np.ndarray, pd.Series]],
) -> dict[str, Any]:
    """A model's figures per scenario and over all scenarios (every row of every scenario
    pooled, each scored by the model of its own fold): `scored` maps each scenario to
    (attack, flagged, labels) of its rows."""
    per = {name: verdict_figures(*parts) for name, parts in scored.items()}
    if not scored:
        return {"overall": verdict_figures(np.empty(0), np.empty(0), pd.Series([], dtype=str)),
                "scenarios": per}  # fmt: skip
    attack = np.concatenate([np.asarray(a) for a, _, _ in scored.values()])
    flagged = np.concatenate([np.asarray(f) for _, f, _ in scored.values()])
    labels = pd.concat([pd.Series(lab) for _, _, lab in scored.values()], ignore_index=True)
    return {"overall": verdict_figures(attack, flagged, labels), "scenarios": per}


def flagged_by_layer(
    layer: np.ndarray, attack: np.ndarray, flagged: np.ndarray, layers: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per layer of the ensemble that decided (`layer` names one of `layers` per row), the
    attack rows and the benign rows it flagged: where the false alarms come from."""
    layer, attack, flagged = np.asarray(layer), np.asarray(attack, bool), np.asarray(flagged, bool)
    return {
        name: {
            "attack_rows_flagged": int((flagged & attack & (layer == name)).sum()),
            "benign_rows_flagged": int((flagged & ~attack & (layer == name)).sum()),
        }
        for name in layers
    }
