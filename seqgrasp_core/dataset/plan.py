"""The build plan: which objects train and which test, and the work units.

Objects are split 80/20 by a seeded shuffle (no test object ever appears in a
training sequence). A *set* is ``objects_per_set`` distinct objects of one split; each
set is permuted into ``permutations`` grasp orders; one *unit* is one order × batch.
Every unit's seed derives from the build seed and the unit's index alone, so a
resumed build, a build with another number of workers and a build on a cluster
make the same units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seqgrasp_core.errors import SeqGraspError

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class ObjectEntry:
    """One object of the build: its file name, content hash and split."""

    object_id: str
    file: str
    sha256: str
    scale: float  # applied to the file's units (metres) to fit 0.06–0.10 m
    split: str  # "train" or "test"


@dataclass(frozen=True)
class Unit:
    """One work unit: the objects' ids in grasp order, their split, and its seed."""

    index: int
    objects: tuple[str, ...]
    split: str
    seed: int

    def as_dict(self) -> dict:
        return {**asdict(self), "objects": list(self.objects)}


def derived_seed(build_seed: int, index: int) -> int:
    """A 31-bit seed that depends on ``build_seed`` and ``index`` only."""
    return int(np.random.SeedSequence([build_seed, index]).generate_state(1)[0] >> 1)


def split_objects(files: list[tuple[str, str, str, float]], seed: int,
                  test_fraction: float = TEST_FRACTION) -> list[ObjectEntry]:
    """``[(object_id, file, sha256, scale)]`` → entries with a seeded 80/20 train/test
    split (by sorted id, so the split does not depend on the order given)."""
    ordered = sorted(files)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_test = int(round(test_fraction * len(ordered))) if len(ordered) > 1 else 0
    test = set(order[:n_test].tolist())
    return [ObjectEntry(oid, file, sha, scale, "test" if i in test else "train")
            for i, (oid, file, sha, scale) in enumerate(ordered)]


def plan_units(objects: list[ObjectEntry], sets: int, permutations: int,
               objects_per_set: int, seed: int) -> list[Unit]:
    """``sets`` sets (each of one split: 20 % test when the test split has enough
    objects for a set, else all train), ``permutations`` orders each."""
    if sets < 1 or permutations < 1 or objects_per_set < 1:
        raise SeqGraspError("--sets, --permutations and --objects-per-set must be ≥ 1",
                            "e.g. --sets 10 --permutations 4 --objects-per-set 4")
    pools = {s: [o.object_id for o in objects if o.split == s] for s in ("train", "test")}
    if len(pools["train"]) < objects_per_set:
        raise SeqGraspError(f"the train split has {len(pools['train'])} objects, fewer than "
                            f"--objects-per-set {objects_per_set}",
                            "add objects or lower --objects-per-set")
    testing = len(pools["test"]) >= objects_per_set  # else every set trains
    rng = np.random.default_rng([seed, 1])
    units: list[Unit] = []
    for _ in range(sets):
        split = "test" if testing and rng.random() < TEST_FRACTION else "train"
        pool = pools[split]
        chosen = [pool[i] for i in rng.choice(len(pool), objects_per_set, replace=False)]
        orders: list[tuple[str, ...]] = []
        for _ in range(permutations * 10):  # distinct orders while there are enough
            order = tuple(chosen[i] for i in rng.permutation(objects_per_set))
            if order not in orders:
                orders.append(order)
            if len(orders) == permutations:
                break
        for order in orders:
            index = len(units)
            units.append(Unit(index, order, split, derived_seed(seed, index)))
    return units
