"""The verdict cache of a streamed `predict`: the same answers as scoring each chunk whole,
each distinct vector scored once while the cache holds it, and the oldest making room."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iot_anomaly.models.inputs import unique_rows
from iot_anomaly.serving import Scored, VerdictCache


class CountingChampion:
    """Scores rows by a fixed rule, like the champion once per distinct vector, and counts
    the vectors it was asked to score."""

    def __init__(self) -> None:
        self.features = ["a", "b"]
        self.scored = 0

    def score(self, frame: pd.DataFrame) -> Scored:
        first, codes = unique_rows(frame, self.features)
        distinct = frame.iloc[first]
        self.scored += len(distinct)
        attack = (distinct["a"] > 2).to_numpy()
        table = pd.DataFrame(
            {
                "category": np.where(attack, "dos", "normal"),
                "attack": attack,
                "ae_score": (distinct["a"] * 0.1 + distinct["b"]).to_numpy(np.float32),
            }
        )
        return Scored(table, codes, frame.index)


def chunks(n_chunks: int, rows: int, seed: int) -> list[pd.DataFrame]:
    """Chunks of rows drawn from few distinct vectors, so that chunks repeat each other."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_chunks):
        frame = pd.DataFrame(
            {"a": rng.integers(0, 5, rows), "b": rng.integers(0, 4, rows).astype(float)}
        )
        frame.index = pd.RangeIndex(i * rows + 1, (i + 1) * rows + 1, name="line")
        out.append(frame)
    return out


@pytest.mark.parametrize("capacity", [1, 2, 7, 1000])
def test_the_cache_answers_as_scoring_whole(capacity: int) -> None:
    cached = VerdictCache(CountingChampion(), capacity)  # type: ignore[arg-type]
    for frame in chunks(30, 9, seed=capacity):
        got = cached.score(frame)
        want = CountingChampion().score(frame)
        pd.testing.assert_frame_equal(got.frame(), want.frame())
        assert got.csv_text(header=False) == want.csv_text(header=False)


def test_each_distinct_vector_is_scored_once_while_held() -> None:
    champion = CountingChampion()
    cached = VerdictCache(champion, 1000)  # type: ignore[arg-type]
    parts = chunks(30, 9, seed=0)
    for frame in parts:
        cached.score(frame)
    whole = pd.concat(parts)
    assert champion.scored == len(whole.drop_duplicates())


def test_a_full_cache_forgets_the_oldest_vectors() -> None:
    champion = CountingChampion()
    cached = VerdictCache(champion, 2)  # type: ignore[arg-type]
    rows = [(0, 0.0), (1, 0.0), (2, 0.0), (0, 0.0)]  # the third pushes the first out
    for a, b in rows:
        cached.score(pd.DataFrame({"a": [a], "b": [b]}))
    assert champion.scored == 4
    cached.score(pd.DataFrame({"a": [0], "b": [0.0]}))  # held again now
    assert champion.scored == 4 and len(cached.slots) == 2
