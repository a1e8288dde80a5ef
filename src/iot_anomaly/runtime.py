"""How work is spread over the machine: threads, workers, chunk sizes, progress bars.

None of these changes a result (a trained model, a prediction, a metric), only how fast it
comes and how busy the machine is, so they are not in params.yaml: DVC would call every stage
stale when one of them changed, and one machine's cores would be written into every other's
pipeline. Each comes from an environment variable, checked when read (a bad value is an error
that names the variable); unset or empty, the default holds.

- `IOT_ANOMALY_THREADS`: threads a training stage uses: the KNN index's faiss (OpenMP) threads
  and the Random Forests' `n_jobs`. Default: the cores this process may use, at most 8.
- `IOT_ANOMALY_LOADER_WORKERS`: DataLoader worker processes per network training (0: load
  batches in the training process). Default 0: the arrays are in memory already.
- `IOT_ANOMALY_PROGRESS`: Lightning's progress bar while a network trains (1/0, true/false,
  yes/no, on/off). Default on.
- `IOT_ANOMALY_PREDICT_WORKERS`: models that `predict` runs side by side: with more than one,
  the networks run in a helper process while the rest of the workers search the KNN index in
  chunks. Default: the cores, at most 4.
- `IOT_ANOMALY_PREDICT_THREADS`: threads each model uses while predicting (torch intra-op,
  faiss). Default 1: the workers already keep the cores busy.
- `IOT_ANOMALY_PREDICT_BATCH_SIZE`: rows per network forward pass in `predict` (small batches
  stay in the CPU cache). Default 1024.
- `IOT_ANOMALY_KNN_CHUNK`: KNN queries per `predict` task, so that the workers finish
  together. Default 4096.

Why none changes a result: a seeded Random Forest draws every tree's seed before the trees are
spread over jobs, and predicts on one job; faiss answers each query on its own and the KNN's
k-means cells are trained on one thread; the networks train on a fixed single torch thread
(models/lightning.py), and their outputs do not depend on how rows are batched
(tests/code/test_config.py, tests/model/test_predict_paths.py and
tests/model/test_reproducible.py check these).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError

PREFIX = "IOT_ANOMALY_"
#: glibc's mallopt parameters (malloc.h) and the values `steady_memory` sets.
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
MMAP_THRESHOLD = 64 * 1024  # bytes: larger blocks are mapped apart and given back when freed
ARENA_MAX = 2
MAX_DEFAULT_THREADS = 8  # past this, a default would mostly compete with other processes
MAX_DEFAULT_PREDICT_WORKERS = 4


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class RuntimeSettingsError(ValueError):
    """An IOT_ANOMALY_* environment variable holds a bad value; the message names it."""


class Runtime(BaseModel):
    """Run-time settings; `Runtime()` is the defaults, `Runtime.from_env()` what the
    environment sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: PositiveInt = Field(default_factory=lambda: min(usable_cores(), MAX_DEFAULT_THREADS))
    loader_workers: NonNegativeInt = 0
    progress: bool = True
    predict_workers: PositiveInt = Field(
        default_factory=lambda: min(usable_cores(), MAX_DEFAULT_PREDICT_WORKERS)
    )
    predict_threads: PositiveInt = 1
    predict_batch_size: PositiveInt = 1024
    knn_chunk: PositiveInt = 4096

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable of a setting: `threads` → `IOT_ANOMALY_THREADS`."""
        return PREFIX + name.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Runtime:
        """The settings the environment (default: os.environ) sets; defaults for the rest."""
        environ = os.environ if environ is None else environ
        given = {
            name: environ[cls.variable(name)].strip()
            for name in cls.model_fields
            if environ.get(cls.variable(name), "").strip()
        }
        try:
            return cls.model_validate(given)
        except ValidationError as err:
            lines = [
                f"{cls.variable(str(e['loc'][0]))}={given[str(e['loc'][0])]!r}: {e['msg']}"
                for e in err.errors()
            ]
            raise RuntimeSettingsError("\n".join(lines)) from None


def steady_memory() -> None:
    """Keep a long streaming run's resident memory from creeping up with its input.

    glibc raises its mmap threshold each time a large block is freed, so that after a while
    blocks of up to 32 MB (a chunk's columns) come from the heap, which fragments and never
    shrinks; each thread also gets a heap of its own. A fixed threshold and two heaps keep
    the memory of a 10-million-row `predict` at that of a short one; Arrow's allocator (the
    sorted runs of traffic.stream) then uses the same malloc. No result changes. On another C
    library this does nothing.
    """
    import ctypes

    import pyarrow as pa

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    libc.mallopt(M_ARENA_MAX, ARENA_MAX)
    pa.set_memory_pool(pa.system_memory_pool())
