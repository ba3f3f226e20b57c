"""The build driver on a toy builder: resume, lazy model loading, completion written last."""

import json
from pathlib import Path

import pytest

from judgefree_hub.errors import BuildError
from judgefree_hub.output import BuildSteps, Finish, ShardContent, chunks, run_build
from judgefree_hub.output.shards import MARKER_FORMAT
from judgefree_hub.recipe import recipe_from_dict


def recipe(per_shard=3, version="1.0.0"):
    raw = {"name": "toy", "version": version, "builder": "ic", "ic": {"manifest": "m.jsonl"},
           "output": {"samples_per_shard": per_shard}}
    return recipe_from_dict(raw, base_dir=Path("."), check_paths=False)


class Toy(BuildSteps[int]):
    """Each item becomes one text member; counts how often the driver asked for each stage."""

    def __init__(self):
        self.opened = 0
        self.built: list[list[int]] = []

    def open(self, items):
        self.opened += 1

    def shard(self, items, progress):
        self.built.append(list(items))
        progress.update(len(items))
        return ShardContent([{"__key__": f"i{i}", "txt": str(i * i).encode()} for i in items],
                            {"samples": len(items), "odd": sum(i % 2 for i in items)})

    def finish(self, root, records, shards):
        odd = sum(r.stats["odd"] for r in records)
        return Finish({"odd": odd, "shards": len(shards)}, f"# toy\n{odd} odd\n", {"extra/n.txt": b"x"})


@pytest.mark.parametrize("n,per", [(0, 3), (1, 3), (3, 3), (7, 3), (10, 1), (5, 100)])
def test_chunks_cover_every_item_once_in_order_reading_lazily(n, per):
    read = []

    def items():
        for i in range(n):
            read.append(i)
            yield i

    got = []
    for chunk in chunks(items(), per):
        assert len(read) == sum(map(len, got)) + len(chunk)  # nothing read ahead of the chunk given
        got.append(chunk)
    assert [i for c in got for i in c] == list(range(n))
    assert all(len(c) == per for c in got[:-1]) and all(0 < len(c) <= per for c in got)


def test_build_resume_and_confirm(tmp_path):
    items = list(range(7))
    steps = Toy()
    result = run_build(recipe(), tmp_path, items, steps, show_progress=False)
    root = tmp_path / "toy" / "1.0.0"
    assert steps.opened == 1 and steps.built == [[0, 1, 2], [3, 4, 5], [6]]
    assert (result.shards_built, result.shards_resumed, result.stats) == (3, 0, {"odd": 3, "shards": 3})
    assert (root / "README.md").read_text() == "# toy\n3 odd\n" and (root / "extra/n.txt").read_bytes() == b"x"
    manifest = json.loads((root / "manifest.json").read_text())
    assert [s["rows"] for s in manifest["shards"]] == [3, 3, 1] and manifest["rows"] == 7
    assert not (root / ".progress").exists()
    first = {p.name: p.read_bytes() for p in (root / "data").iterdir()}

    again = Toy()  # complete: nothing is loaded or built, the hashes are checked
    result = run_build(recipe(), tmp_path, items, again, show_progress=False)
    assert (again.opened, again.built, result.shards_resumed) == (0, [], 3)

    # an unfinished build (no manifest) whose shard 1 was lost: only shard 1 is built again
    (root / "manifest.json").unlink()
    (root / ".progress").mkdir()
    for i, s in enumerate(manifest["shards"]):
        if i != 1:
            rec = {"index": i, "file": s["file"], "rows": s["rows"], "bytes": s["bytes"], "sha256": s["sha256"],
                   "first_sample": 3 * i, "num_samples": s["rows"], "stats": {"samples": s["rows"], "odd": [1, 2, 0][i]},
                   "format": MARKER_FORMAT}
            (root / ".progress" / f"train-{i:06d}.json").write_text(json.dumps(rec))
    (root / "data" / "train-000001.tar").write_bytes(b"half a tar")
    resumed = Toy()
    result = run_build(recipe(), tmp_path, items, resumed, show_progress=False)
    assert resumed.opened == 1 and resumed.built == [[3, 4, 5]]
    assert (result.shards_built, result.shards_resumed, result.stats["odd"]) == (1, 2, 3)
    assert {p.name: p.read_bytes() for p in (root / "data").iterdir()} == first


def test_a_modified_complete_build_is_an_error_not_a_rebuild(tmp_path):
    run_build(recipe(), tmp_path, [1, 2, 3, 4], Toy(), show_progress=False)
    shard = tmp_path / "toy" / "1.0.0" / "data" / "train-000000.tar"
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(BuildError, match="sha256 differs"):
        run_build(recipe(), tmp_path, [1, 2, 3, 4], Toy(), show_progress=False)


def test_another_recipe_under_the_same_version_is_refused_before_any_stage(tmp_path):
    run_build(recipe(per_shard=3), tmp_path, [1, 2], Toy(), show_progress=False)
    steps = Toy()
    with pytest.raises(BuildError, match="different recipe"):
        run_build(recipe(per_shard=2), tmp_path, [1, 2], steps, show_progress=False)
    assert (steps.opened, steps.built) == (0, [])


def test_the_models_are_opened_and_checked_before_anything_is_written(tmp_path):
    class Broken(Toy):
        def open(self, items):
            super().open(items)
            assert items == [0, 1, 2]  # the first shard's items, to check the models on real input
            raise BuildError("self-check failed")

    with pytest.raises(BuildError, match="self-check failed"):
        run_build(recipe(), tmp_path, list(range(5)), Broken(), show_progress=False)
    assert not (tmp_path / "toy" / "1.0.0").exists()  # nothing written: the version is not locked
    run_build(recipe(per_shard=2), tmp_path, list(range(5)), Toy(), show_progress=False)  # another recipe builds


def test_an_empty_build_is_refused_before_anything_is_written(tmp_path):
    steps = Toy()
    with pytest.raises(BuildError, match="give no samples"):
        run_build(recipe(), tmp_path, [], steps, show_progress=False)
    assert (steps.opened, list(tmp_path.iterdir())) == (0, [])  # not even the lock


def test_a_second_build_of_the_same_version_at_the_same_time_is_refused(tmp_path):
    from filelock import FileLock

    (tmp_path / "toy").mkdir()
    with FileLock(tmp_path / "toy" / ".1.0.0.lock"):  # the first build, still running
        steps = Toy()
        with pytest.raises(BuildError, match="another jfhub build of this version is running"):
            run_build(recipe(), tmp_path, [1, 2], steps, show_progress=False)
        assert (steps.opened, steps.built) == (0, [])
        run_build(recipe(version="1.0.1"), tmp_path, [1, 2], Toy(), show_progress=False)  # another version: fine
    assert run_build(recipe(), tmp_path, [1, 2], Toy(), show_progress=False).shards_built == 1


def test_markers_left_by_a_kill_after_the_manifest_are_removed_on_rerun(tmp_path):
    run_build(recipe(), tmp_path, [1, 2, 3, 4], Toy(), show_progress=False)
    root = tmp_path / "toy" / "1.0.0"
    (root / ".progress").mkdir()
    (root / ".progress" / "train-000000.json").write_text("{}")
    assert run_build(recipe(), tmp_path, [1, 2, 3, 4], Toy(), show_progress=False).shards_resumed == 2
    assert not (root / ".progress").exists()
