"""Publishing a build folder: render its card for the target repo, then push (hub.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from ..card import render_build_card
from ..errors import ConfigError, PushError
from ..output import write_atomic
from ..recipe import Recipe, recipe_from_dict
from .push import PushResult, build_json, check_publishable, push_version


def built_recipe(root: Path) -> Recipe:
    """The resolved recipe a build folder was made from."""
    path = root / "recipe.json"
    if not path.is_file():
        raise PushError(f"{root}: no recipe.json; is this a jfhub build folder (OUT/<name>/<version>)?")
    try:
        return recipe_from_dict(build_json(path), base_dir=root, label=str(path), check_paths=False)
    except ConfigError as e:
        more = f" (and {len(e.problems) - 1} more)" if len(e.problems) > 1 else ""
        raise PushError(f"{e.lines()[0]}{more}; rebuild this version") from None


REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")  # as the recipe schema's hub.repo


def check_repo_id(repo_id: str) -> None:
    """A Hub repo id as the Hub takes it (ORG/NAME), checked before any request, in one line."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    message = None
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        message = " ".join(str(e).split())
    if message is None and "/" not in repo_id:
        message = "it has no ORG/ part"
    if message is None and not REPO_ID.fullmatch(repo_id):  # huggingface_hub takes any Unicode letter
        message = "ORG and NAME take ASCII letters, digits, '-', '_' and '.', and start with a letter or digit"
    if message:
        raise PushError(f"repo {repo_id!r} is not a Hub repo id (ORG/NAME): {message}")


def publish(root: Path, repo_id: Optional[str] = None, private: Optional[bool] = None,
            endpoint: Optional[str] = None, wait_s: float = 1.0) -> PushResult:
    """Push the complete build at `root`; the repo comes from the argument or the recipe."""
    root = Path(root)
    recipe = built_recipe(root)
    repo_id = repo_id or recipe.hub.repo
    if not repo_id:
        raise PushError("no repo to push to: pass --repo ORG/NAME or set hub.repo in the recipe")
    check_repo_id(repo_id)
    manifest = check_publishable(root)
    stats = build_json(root / "stats.json")
    card = render_build_card(recipe, stats, manifest["shards"], repo_id=repo_id)
    write_atomic(root / "README.md", card.encode())
    return push_version(root, repo_id, private=recipe.hub.private if private is None else private,
                        endpoint=endpoint, wait_s=wait_s)
