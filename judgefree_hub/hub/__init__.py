"""The Hugging Face Hub: publish a finished version as one commit + one tag (publish.py over
push.py, which owns every retry), and load a version back, raw or TRL-ready (load.py)."""

from .load import build_rows, dataset_errors, load_pairs
from .publish import built_recipe, check_repo_id, publish
from .push import PushResult, check_publishable, push_version, with_retries

__all__ = ["PushResult", "build_rows", "built_recipe", "check_publishable", "check_repo_id", "dataset_errors",
           "load_pairs", "publish", "push_version", "with_retries"]
