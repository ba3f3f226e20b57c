"""What a build writes: deterministic atomic shards with per-shard markers (shards.py), the
version folder and its life cycle (folder.py), the row format (rows.py), statistics and plots
merged from per-shard summaries (stats.py, summary.py), the progress bar, and the one build
driver every builder runs on (driver.py)."""

from .driver import BuildSteps, Finish, ShardContent, chunks, run_build
from .folder import MANIFEST, BuildFolder, BuildResult
from .plots import plot_files
from .progress import BuildProgress
from .rows import (
    FIELD_TYPES,
    FIELDS,
    encode_image,
    features_yaml,
    pair_row,
    shard_members,
    thumbnail_jpeg,
    to_trl,
)
from .shards import ShardRecord, ShardStore, read_member, sha256_file, write_atomic
from .stats import PairStats, build_stats, score_gap, tally_drawn_ratio, thumbnail_path
from .summary import Histogram, Moments

__all__ = ["FIELDS", "FIELD_TYPES", "MANIFEST", "BuildFolder", "BuildProgress", "BuildResult", "BuildSteps",
           "Finish", "ShardContent", "ShardRecord", "ShardStore", "build_stats", "encode_image",
           "features_yaml", "Histogram", "Moments", "PairStats", "pair_row", "plot_files",
           "read_member", "run_build", "score_gap", "sha256_file", "chunks", "shard_members",
           "tally_drawn_ratio", "thumbnail_jpeg", "thumbnail_path", "to_trl", "write_atomic"]
