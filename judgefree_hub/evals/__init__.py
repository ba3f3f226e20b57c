"""The benchmarks of `jfhub eval` (registry BENCHMARKS), each on an IC dataset's images and
annotations: `ic` (judge-free caption precision, recall, F1, CHAIR), `chair` (CHAIR with COCO's
80 categories) and `pope` (POPE's yes/no object questions). A new benchmark is one module here
with a `Benchmark` subclass registered by name. Imports no torch."""

# Each import registers its benchmarks.
from . import captions, pope  # noqa: F401
from .base import (
    BENCHMARKS,
    Benchmark,
    BenchResult,
    CompareRow,
    EvalOptions,
    Responses,
    format_compare,
    summary_bench,
)
from .run import Report, dataset_commit, evaluate

__all__ = ["BENCHMARKS", "BenchResult", "Benchmark", "CompareRow", "EvalOptions", "Report", "Responses",
           "dataset_commit", "evaluate", "format_compare", "summary_bench"]
