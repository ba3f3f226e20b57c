"""Publishing a build folder: render its card for the target repo, then push (hub.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..card import render_build_card
from ..errors import PushError
from ..output import write_atomic
from ..recipe import Recipe, recipe_from_dict
from .push import PushResult, check_publishable, push_version


def built_recipe(root: Path) -> Recipe:
    """The resolved recipe a build folder was made from."""
    path = root / "recipe.json"
    if not path.is_file():
        raise PushError(f"{root}: no recipe.json; is this a jfhub build folder (OUT/<name>/<version>)?")
    return recipe_from_dict(json.loads(path.read_text()), base_dir=root, label=str(path), check_paths=False)


def check_repo_id(repo_id: str) -> None:
    """A Hub repo id as the Hub takes it (ORG/NAME), checked before any request, in one line."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    message = None
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        message = " ".join(str(e).split())
    if message or "/" not in repo_id:
        raise PushError(f"repo {repo_id!r} is not a Hub repo id (ORG/NAME): {message or 'it has no ORG/ part'}")


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
    stats = json.loads((root / "stats.json").read_text())
    card = render_build_card(recipe, stats, manifest["shards"], repo_id=repo_id)
    write_atomic(root / "README.md", card.encode())
    return push_version(root, repo_id, private=recipe.hub.private if private is None else private,
                        endpoint=endpoint, wait_s=wait_s)
