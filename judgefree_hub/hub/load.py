"""Loading a published (or local) preference dataset back, raw or TRL-ready."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator, Optional

from ..output import to_trl


@contextlib.contextmanager
def dataset_errors(source: str, revision: Optional[str] = None) -> Iterator[None]:
    """Loading a dataset (Hub repo, revision, local folder) fails in one line, whatever failed:
    a missing repo or revision, a gated repo, the network, a folder that holds no dataset, a
    missing split. The cause's type and first line are kept; the traceback is not shown."""
    from huggingface_hub.errors import HFValidationError

    from ..errors import JfhubError, SourceError

    try:
        yield
    except JfhubError:  # ours: already one line that says what is wrong
        raise
    except Exception as e:  # noqa: BLE001  (huggingface_hub and datasets raise many types; see above)
        where = f"{source}" + (f" at revision {revision}" if revision else "")
        if isinstance(e, HFValidationError):  # not a folder, so taken for a repo id, and not one
            what = "a file, not a dataset folder" if Path(source).exists() else "no such folder"
            raise SourceError(f"{where}: cannot load the dataset: {what}, and not a Hub repo id (ORG/NAME)") from e
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise SourceError(f"{where}: cannot load the dataset: {type(e).__name__}: {first}") from e


def build_rows(source: str, revision: Optional[str] = None) -> Optional[int]:
    """The rows a jfhub build (a folder, or a Hub repo at `revision`) records in its manifest.json;
    None for any other dataset. Asked before loading, so that a build whose pairs were all dropped
    is named as empty, not by what `datasets` raises on an empty split."""
    local = Path(source)
    if local.is_dir():
        path = local / "manifest.json"
        if not path.is_file():
            return None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = Path(hf_hub_download(source, "manifest.json", repo_type="dataset", revision=revision))
        except EntryNotFoundError:
            return None
    manifest = json.loads(path.read_text())
    rows = manifest.get("rows") if isinstance(manifest, dict) else None
    return rows if isinstance(rows, int) else None


def _image_column(columns) -> str:
    for name in ("jpg", "png", "webp"):
        if name in columns:
            return name
    raise ValueError(f"no image column (jpg/png/webp) among {sorted(columns)}")


def load_pairs(source: str | Path, revision: Optional[str] = None, split: str = "train",
               streaming: bool = False, trl: bool = True) -> Any:
    """A jfhub preference dataset from a Hub repo id (at `revision`, e.g. a version tag) or a
    local build folder. With `trl=True` (default) rows are TRL's conversational vision format:
    `images`, `prompt`, `chosen`, `rejected`, plus the scores and ratios as extra columns."""
    import datasets

    local = Path(source)
    if local.is_dir():
        files = {split: str(local / "data" / "train-*.tar")}
        ds = datasets.load_dataset("webdataset", data_files=files, split=split, streaming=streaming)
    else:
        ds = datasets.load_dataset(str(source), revision=revision, split=split, streaming=streaming)
    if not trl:
        return ds
    columns = ds.column_names if ds.column_names is not None else list(ds.features)
    image = _image_column(columns)
    return ds.map(lambda r: to_trl(r["json"], r[image]), remove_columns=columns)
