"""Many processes, one build: ranks from each launcher's environment, one GPU per process, and
the driver's protocol run with ranks as threads on one in-process store (torch's HashStore, the
same interface as the TCPStore a launch gives): any number of ranks writes the same bytes,
every shard is built once, a failure anywhere stops everyone, a rerun builds what is missing."""

import hashlib
import random
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.distributed import HashStore, PrefixStore

from judgefree_hub import devices
from judgefree_hub.distributed import Coordinator, Ranks, bind_device
from judgefree_hub.errors import BuildError
from judgefree_hub.output import BuildSteps, Finish, ShardContent, run_build
from judgefree_hub.recipe import recipe_from_dict


@pytest.mark.parametrize("env,want", [
    ({}, Ranks(0, 1, 0)),
    ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}, Ranks(3, 8, 1)),  # torchrun, accelerate
    ({"SLURM_PROCID": "5", "SLURM_NTASKS": "6", "SLURM_LOCALID": "2"}, Ranks(5, 6, 2)),  # srun
    ({"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, Ranks(1, 2, 0)),  # torchrun in srun
    ({"SLURM_PROCID": "0"}, Ranks(0, 1, 0)),  # an allocation, not a job step of many tasks
])
def test_ranks_come_from_the_launchers_environment(env, want):
    assert Ranks.from_env(env) == want


@pytest.mark.parametrize("env,match", [
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 is not below WORLD_SIZE=2"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x'"),
    ({"RANK": "0", "WORLD_SIZE": "-1"}, "WORLD_SIZE='-1'"),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "0"}, "SLURM_PROCID=0 is not below SLURM_NTASKS=0"),
])
def test_a_bad_launch_environment_is_one_clear_error(env, match):
    with pytest.raises(BuildError, match=match):
        Ranks.from_env(env)


def test_without_a_store_address_many_processes_say_how_to_launch(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(BuildError, match="no MASTER_ADDR or MASTER_PORT.*torchrun"):
        Coordinator.connect(Ranks(1, 2, 1), "toy", "1.0.0")


def test_each_process_gets_its_own_gpu_and_auto_means_it(monkeypatch):
    current = {"index": 0}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: current.update(index=i))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current["index"])
    bind_device(Ranks(rank=6, world=8, local_rank=2))
    assert devices.pick_device("auto") == torch.device("cuda", 2)
    assert devices.pick_device("cuda") == torch.device("cuda", 2)
    assert devices.pick_device("cuda:1") == torch.device("cuda", 1)  # an explicit index is obeyed
    bind_device(Ranks())  # one process: the current device is left alone
    assert current["index"] == 2


def recipe(per_shard=2, version="1.0.0"):
    raw = {"name": "toy", "version": version, "builder": "ic", "ic": {"manifest": "m.jsonl"},
           "output": {"samples_per_shard": per_shard}}
    return recipe_from_dict(raw, base_dir=Path("."), check_paths=False)


class Toy(BuildSteps[int]):
    """Items become text members; the rank raises on its `fail_at`-th shard (counting from 1),
    whichever items it holds, and records them in `failed`; `delay` slows this rank down (a slow
    GPU) so that the others take more shards; `wait_for` holds every shard until that event is
    set (so a rank cannot finish the build before another has started)."""

    def __init__(self, fail_at=None, delay=0.0, wait_for=None):
        self.fail_at, self.delay, self.wait_for = fail_at, delay, wait_for
        self.built: list[list[int]] = []
        self.failed: list[int] | None = None

    def shard(self, items, progress):
        if self.wait_for is not None:
            assert self.wait_for.wait(30), "the rank it waits for never started"
        time.sleep(self.delay)
        if self.fail_at is not None and len(self.built) + 1 == self.fail_at:
            self.failed = list(items)
            raise RuntimeError(f"item {items[-1]} broke\nsecond line")
        self.built.append(list(items))
        return ShardContent([{"__key__": f"i{i}", "txt": str(i * i).encode()} for i in items],
                            {"samples": len(items), "sum": sum(items)})

    def finish(self, root, records, shards):
        total = sum(r.stats["sum"] for r in records)
        return Finish({"sum": total, "shards": len(shards)}, f"# toy\n{total}\n")


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def launch(out, items, steps, world, version="1.0.0", timeout=60):
    """Run `world` ranks as threads on one store, as a launcher runs processes."""
    store = PrefixStore(f"run-{random.random()}/", HashStore())
    results, errors = [None] * world, [None] * world

    def rank(r):
        try:
            coord = Coordinator(store, Ranks(r, world, r))
            results[r] = run_build(recipe(version=version), out, iter(items), steps[r], show_progress=False,
                                   coordinator=coord)
        except BaseException as e:  # noqa: BLE001  (collected for the test to look at)
            errors[r] = e

    threads = [threading.Thread(target=rank, args=(r,), daemon=True) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a rank hung"
    return results, errors


@pytest.mark.parametrize("world", [2, 3, 5])
@pytest.mark.parametrize("n", [1, 7, 12])
def test_any_number_of_ranks_writes_the_bytes_of_one_process(tmp_path, world, n):
    items = list(range(n))
    solo = run_build(recipe(), tmp_path / "solo", iter(items), Toy(), show_progress=False)
    steps = [Toy(delay=0.01 * r) for r in range(world)]
    results, errors = launch(tmp_path / "many", items, steps, world)
    assert errors == [None] * world
    root = tmp_path / "many" / "toy" / "1.0.0"
    assert tree(root) == tree(solo.root)
    built = sorted(tuple(c) for s in steps for c in s.built)
    assert built == [tuple(items[i:i + 2]) for i in range(0, n, 2)]  # every shard once, by someone
    assert results[0].final and results[0].stats == solo.stats and results[0].shards_built == len(built)
    assert all(not r.final and r.stats == {} for r in results[1:])
    assert [len(s.built) for s in steps[1:]] == [r.shards_built for r in results[1:]]


def test_a_slow_rank_takes_fewer_shards(tmp_path):
    steps = [Toy(delay=0.3), Toy()]
    _, errors = launch(tmp_path, list(range(24)), steps, 2)
    assert errors == [None, None]
    assert len(steps[0].built) < len(steps[1].built)  # 12 shards: the fast rank takes most


@pytest.mark.parametrize("failing_rank", [0, 1, 2])
def test_a_failure_in_any_rank_stops_all_and_a_rerun_with_another_count_completes(tmp_path, failing_rank):
    items = list(range(40))
    started = threading.Event()  # the others wait until the failing rank holds a shard

    class Starts(Toy):
        def shard(self, items, progress):
            started.set()
            return super().shard(items, progress)

    steps = [Starts(fail_at=3) if r == failing_rank else Toy(delay=0.02, wait_for=started) for r in range(3)]
    _, errors = launch(tmp_path / "many", items, steps, 3)
    assert isinstance(errors[failing_rank], RuntimeError)
    broke = steps[failing_rank].failed[-1]
    root = tmp_path / "many" / "toy" / "1.0.0"
    assert not (root / "manifest.json").exists()
    others = [e for r, e in enumerate(errors) if r != failing_rank and e is not None]
    assert all(isinstance(e, BuildError) and f"rank {failing_rank}: item {broke} broke" in str(e) for e in others)
    assert errors[0] is not None  # rank 0 never finishes a version with a shard missing
    kept = {p.stem for p in (root / ".progress").glob("*.json")}  # shards finished and marked
    assert f"train-{broke // 2:06d}" not in kept  # the failed shard is missing
    assert len(kept) >= 2  # finished ones stay: at least the failing rank's own two

    solo = run_build(recipe(), tmp_path / "solo", iter(items), Toy(), show_progress=False)
    rerun = [Toy(), Toy()]
    results, errors = launch(tmp_path / "many", items, rerun, 2)
    assert errors == [None, None]
    assert tree(root) == tree(solo.root)
    rebuilt = {tuple(c) for s in rerun for c in s.built}
    assert (broke - 1, broke) in rebuilt and len(rebuilt) == 20 - len(kept)  # only what was missing
    assert results[0].shards_resumed == len(kept)


def test_rank_zero_failing_its_checks_stops_the_others_before_they_build(tmp_path):
    run_build(recipe(per_shard=3), tmp_path, iter([1, 2]), Toy(), show_progress=False)  # another recipe's folder
    steps = [Toy(), Toy()]
    _, errors = launch(tmp_path, [1, 2, 3], steps, 2)  # per_shard=2: a different recipe, same version
    assert isinstance(errors[0], BuildError) and "different recipe" in str(errors[0])
    assert isinstance(errors[1], BuildError) and str(errors[1]).startswith("stopped: rank 0:")
    assert steps[1].built == []


def test_a_complete_version_is_confirmed_by_every_rank(tmp_path):
    run_build(recipe(), tmp_path, iter(range(5)), Toy(), show_progress=False)
    steps = [Toy(), Toy()]
    results, errors = launch(tmp_path, list(range(5)), steps, 2)
    assert errors == [None, None] and steps[0].built == steps[1].built == []
    assert results[0].shards_resumed == 3 and results[0].stats == {"shards": 3, "sum": 10}
