"""The Hugging Face Hub: publish a finished version as one commit + one tag (publish.py over
push.py, which owns every retry), and load a version back, raw or TRL-ready (load.py)."""

from .load import dataset_errors, load_pairs
from .publish import built_recipe, publish
from .push import PushResult, check_publishable, push_version, with_retries

__all__ = ["PushResult", "built_recipe", "dataset_errors", "check_publishable", "load_pairs", "publish", "push_version",
           "with_retries"]
