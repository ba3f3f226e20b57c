"""Many processes building one version: which process am I, on which device, and a shared
work queue so that the shards are split among processes as they go.

A build needs no collective operations, only agreement: who checks the folder, which shard each
process takes next, when every shard is written, and whether some process failed. All of that
fits in the key-value store torch.distributed already gives every launcher (`torchrun`,
`accelerate launch`, or Slurm `srun` with MASTER_ADDR/MASTER_PORT): an atomic counter hands out
shards one at a time, so a fast process takes more of them and a slow one holds up no one but
its last shard. The files themselves (atomic shards, per-shard markers) stay the only record of
what is done, so a rerun with any number of processes builds what is missing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Optional

from .errors import BuildError

STORE_TIMEOUT = timedelta(hours=2)  # the longest a process waits for rank 0's checks of the folder
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Ranks:
    """This process's place in a launch: rank, world size, and its index on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Ranks":
        """torchrun / accelerate (RANK, WORLD_SIZE, LOCAL_RANK), else Slurm (SLURM_PROCID,
        SLURM_NTASKS, SLURM_LOCALID), else one process. A Slurm job step of one task, or an
        allocation whose tasks run something else, is one process too."""
        if "WORLD_SIZE" in env or "RANK" in env:
            names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
        elif "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
            names = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")
        else:
            return cls()
        values = []
        for name, default in zip(names, ("0", "1", "0"), strict=True):
            raw = env.get(name, default)
            if not raw.strip().isdigit():
                raise BuildError(f"environment variable {name}={raw!r}: expected a non-negative integer")
            values.append(int(raw))
        rank, world, local = values
        if world < 1 or rank >= world:
            raise BuildError(f"environment: {names[0]}={rank} is not below {names[1]}={world}")
        return cls(rank, world, local)


def bind_device(ranks: Ranks) -> None:
    """Give each process of a launch its own GPU (the LOCAL_RANK-th), so that 'auto' and 'cuda'
    in a recipe mean that GPU (devices.pick_device reads the current device)."""
    import torch

    if ranks.world > 1 and torch.cuda.is_available():
        torch.cuda.set_device(ranks.local_rank % torch.cuda.device_count())


class Coordinator:
    """One build's agreement between processes, through a torch.distributed store.

    Keys (under a prefix naming the version and the launcher's restart): `setup` (rank 0's
    verdict on the folder, JSON), `claims` (the shard counter), `built` (shards written),
    `shards` (how many the items make, set by whoever reaches their end) and `error` (the
    first failure, which stops everyone)."""

    def __init__(self, store: Any, ranks: Ranks):
        self.store = store
        self.ranks = ranks

    @classmethod
    def connect(cls, ranks: Ranks, name: str, version: str) -> "Coordinator":
        from torch.distributed import PrefixStore, rendezvous

        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
        if missing:
            raise BuildError(
                f"{ranks.world} processes but no {' or '.join(missing)} in the environment: start the build "
                f"with torchrun or accelerate launch, or export MASTER_ADDR and MASTER_PORT (rank 0's host "
                f"and a free port) before srun"
            )
        url = f"env://?rank={ranks.rank}&world_size={ranks.world}"
        try:
            store, _, _ = next(rendezvous(url, timeout=STORE_TIMEOUT))
        except (RuntimeError, ValueError, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BuildError(f"rank {ranks.rank}: cannot reach the launch's store at "
                             f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}: {first}") from e
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        return cls(PrefixStore(f"jfhub/{name}/{version}/{attempt}/", store), ranks)

    # rank 0 -> everyone
    def publish_setup(self, setup: Mapping[str, Any]) -> None:
        self.store.set("setup", json.dumps(setup))

    def read_setup(self) -> dict[str, Any]:
        self.store.wait(["setup"], STORE_TIMEOUT)
        return json.loads(self.store.get("setup"))

    # the queue
    def claim(self) -> int:
        """The next position in the list of missing shards; every position goes to one process."""
        self.check()
        return int(self.store.add("claims", 1)) - 1

    def built_one(self) -> None:
        self.store.add("built", 1)

    def set_shard_count(self, n: int) -> None:
        self.store.set("shards", str(n))

    # failures
    def fail(self, message: str) -> None:
        """Tell every process to stop (the first failure is the one reported)."""
        if not self.store.check(["error"]):
            self.store.set("error", f"rank {self.ranks.rank}: {message}")

    def error(self) -> Optional[str]:
        return self.store.get("error").decode() if self.store.check(["error"]) else None

    def check(self) -> None:
        message = self.error()
        if message is not None:
            raise BuildError(f"stopped: {message}")

    def leave(self) -> None:
        """This process has claimed its last shard and read the items to their end."""
        self.store.add("left", 1)

    def wait_built(self, done_before: frozenset[int]) -> int:
        """Rank 0: wait until every shard not in `done_before` is written and every process
        has left the queue (under srun, rank 0 hosts the store: it must outlive their last
        call); returns how many shards the version has. Fails as soon as any process does."""
        while True:
            self.check()
            if self.store.check(["shards"]) and int(self.store.add("left", 0)) >= self.ranks.world:
                total = int(self.store.get("shards"))
                need = total - sum(1 for i in done_before if i < total)
                if int(self.store.add("built", 0)) >= need:
                    return total
                raise BuildError(f"every process has finished but {need - int(self.store.add('built', 0))} "
                                 f"shard(s) were not written; run the build again to write them")
            time.sleep(POLL_SECONDS)


class SoloCoordinator:
    """The same agreement for one process: nothing to agree with."""

    ranks = Ranks()

    def __init__(self) -> None:
        self._claims = 0
        self._shards: Optional[int] = None

    def publish_setup(self, setup: Mapping[str, Any]) -> None:
        pass

    def claim(self) -> int:
        self._claims += 1
        return self._claims - 1

    def built_one(self) -> None:
        pass

    def set_shard_count(self, n: int) -> None:
        self._shards = n

    def leave(self) -> None:
        pass

    def fail(self, message: str) -> None:
        pass

    def check(self) -> None:
        pass

    def wait_built(self, done_before: frozenset[int]) -> int:
        assert self._shards is not None, "the items were not read to their end"
        return self._shards
