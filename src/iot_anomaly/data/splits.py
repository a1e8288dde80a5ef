"""Evaluation protocols as data splits. Three splits, `paper`, `dedup`, `corrected`:

- paper: stratified random split of the 10% file (the paper's Table 2 counts);
- dedup: the same after dropping exact duplicate rows (70% of the 10% file repeats);
- corrected: the whole 10% file for training, the official corrected.gz for testing.

A protocol is a split and the features its models read (params `preprocess.definitions`):
`paper_flow` has the rows of `paper`, its models read fewer features. Batches that analysts
confirmed (labelled monitoring batches, `data/confirmed/`) join the training rows of one
protocol, the served champion's, and test rows identical to a confirmed row leave its test
set, so no figure is measured on rows a model learned from.

Each protocol also yields `train_normal`, the normal rows of its training split, on which the
semi-supervised autoencoder and GAN learn what normal traffic looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from iot_anomaly import schema

SPLITS = ("paper", "dedup", "corrected")

#: The protocol whose models are served (registry.py registers them): its training split is
#: the whole 10% file and the confirmed batches, and its models read only the flow features,
#: so one champion scores KDD records and records built from packet captures or Zeek logs
#: (whose content features are unmeasured) alike.
CHAMPION_PROTOCOL = "corrected_flow"

#: The paper's Table 2: rows per category in its train and test sets.
PAPER_TABLE2 = {
    "train": {"normal": 77_815, "dos": 313_163, "probe": 3_284, "r2l": 911, "u2r": 43},
    "test": {"normal": 19_463, "dos": 78_295, "probe": 823, "r2l": 215, "u2r": 9},
}


@dataclass(frozen=True)
class Split:
    """One protocol's rows: what models may learn from, and what they are judged on."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame

    @property
    def train_normal(self) -> pd.DataFrame:
        return self.train[self.train[schema.CATEGORY] == schema.NORMAL]


def stratify_key(frame: pd.DataFrame, min_count: int = 2) -> pd.Series:
    """Attack name per row, falling back to the category (then one pool) for rare names.

    Stratifying on the attack name keeps every attack type in both halves; names with fewer
    than `min_count` rows cannot be split and are pooled by category instead.
    """
    key = frame[schema.LABEL].astype(str)
    rare = key.map(key.value_counts()) < min_count
    key = key.where(~rare, "cat:" + frame[schema.CATEGORY].astype(str))
    still_rare = key.map(key.value_counts()) < min_count
    key = key.where(~still_rare, "pool")
    if 0 < (key == "pool").sum() < min_count:  # a pool of one joins the largest stratum
        key = key.where(key != "pool", key.value_counts().index[0])
    return key


def random_split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, ...]:
    """Seeded stratified train/test split; returns (train, test) keeping the line index."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=stratify_key(frame)
    )
    return train.sort_index(), test.sort_index()


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop exact duplicate rows (all features and label), keeping each row's first line.

    Also counts feature vectors that occur under more than one label: no model can get all
    of those right, whatever it does.
    """
    columns = [*schema.FEATURES, schema.LABEL]
    unique = frame.drop_duplicates(subset=columns, keep="first")
    labels_per_vector = unique.groupby(list(schema.FEATURES), sort=False)[schema.LABEL].nunique()
    stats = {
        "rows": len(frame),
        "unique_rows": len(unique),
        "duplicates_dropped": len(frame) - len(unique),
        "feature_vectors_with_several_labels": int((labels_per_vector > 1).sum()),
    }
    return unique, stats


def row_keys(frame: pd.DataFrame) -> pd.Series:
    """A hash per row over every column the raw files carry (features and, if present,
    label): equal rows get equal keys whatever their index."""
    columns = [c for c in schema.COLUMNS if c in frame.columns]
    return pd.util.hash_pandas_object(frame[columns], index=False)


def without_rows_of(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """`frame` minus every row identical to a row of `other`."""
    if other.empty:
        return frame
    return frame[~row_keys(frame).isin(set(row_keys(other)))]


def with_confirmed(train_file: pd.DataFrame, confirmed: pd.DataFrame) -> pd.DataFrame:
    """The 10% file followed by the confirmed rows, indexed after its last line."""
    if confirmed.empty:
        return train_file
    extra = confirmed[train_file.columns].copy()
    start = int(train_file.index.max()) + 1 if len(train_file) else 1
    extra.index = pd.RangeIndex(start, start + len(extra), name=train_file.index.name)
    return pd.concat([train_file, extra])


def build_protocols(
    protocols: Sequence[str] | Mapping[str, str],
    train_file: pd.DataFrame,
    test_file: pd.DataFrame,
    test_size: float,
    seed: int,
    confirmed: pd.DataFrame | None = None,
    confirmed_into: str | None = None,
) -> tuple[dict[str, Split], dict[str, int] | None]:
    """Build each protocol from the parsed 10% file and corrected file. `protocols` maps
    each name to its split (one of SPLITS); a plain list names splits. The confirmed rows
    join the training rows of the protocol `confirmed_into` only (the served champion's).

    Protocols of one split share its rows (each split is drawn once). Returns the splits
    and, when a protocol has the `dedup` split, its duplicate counts.
    """
    kinds = dict(protocols) if isinstance(protocols, Mapping) else {n: n for n in protocols}
    unknown = set(kinds.values()) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown protocols {sorted(unknown)}; expected some of {SPLITS}")
    if confirmed_into is not None and confirmed_into not in kinds:
        raise ValueError(f"confirmed rows join {confirmed_into!r}, which is not built")
    drawn: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    dedup_stats = None
    for kind in dict.fromkeys(kinds.values()):
        if kind == "paper":
            drawn[kind] = random_split(train_file, test_size, seed)
        elif kind == "dedup":
            unique, dedup_stats = drop_duplicates(train_file)
            drawn[kind] = random_split(unique, test_size, seed)
        else:
            drawn[kind] = (train_file, test_file)
    splits: dict[str, Split] = {}
    for name, kind in kinds.items():
        train, test = drawn[kind]
        if name == confirmed_into and confirmed is not None and not confirmed.empty:
            train, test = with_confirmed(train, confirmed), without_rows_of(test, confirmed)
        splits[name] = Split(name, train, test)
    return splits, dedup_stats


def category_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per category, in the fixed category order (zeros included)."""
    counts = frame[schema.CATEGORY].value_counts()
    return {c: int(counts.get(c, 0)) for c in schema.CATEGORIES}


def describe(split: Split) -> dict[str, object]:
    """Rows per part and category, and how many test rows carry attacks unseen in training."""
    train, test = category_counts(split.train), category_counts(split.test)
    return {
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "train_normal_rows": len(split.train_normal),
        "train": train,
        "test": test,
        "unseen_attack_rows_in_test": int(
            split.test[schema.LABEL].isin(schema.UNSEEN_LABELS).sum()
        ),
    }
