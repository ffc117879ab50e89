"""Loading, checking and scaling objects."""

from __future__ import annotations

import numpy as np
import pytest

from seqgrasp_core.errors import ObjectTooLargeError
from seqgrasp_core.objects.mesh import demo_object_paths, farthest_point_sample, load_object


def test_paper_scaling_puts_the_longest_edge_in_range(mesh_dir):
    huge = load_object(mesh_dir / "huge.obj", size_range=(0.06, 0.10))
    assert huge.size == pytest.approx(0.10)
    assert huge.scale == pytest.approx(0.10 / 0.5)
    small = load_object(mesh_dir / "a.obj", size_range=(0.08, 0.10))
    assert small.size == pytest.approx(0.08)


def test_too_large_without_scaling_names_the_limit(mesh_dir):
    with pytest.raises(ObjectTooLargeError, match="0.500 m across"):
        load_object(mesh_dir / "huge.obj", max_size=0.12)


def test_demo_objects_are_bundled_and_of_different_shapes():
    paths = demo_object_paths()
    assert len(paths) >= 4
    objs = [load_object(p) for p in paths]
    assert all(o.mesh.is_watertight and 0.05 <= o.size <= 0.10 for o in objs)
    assert len({p.suffix for p in paths}) >= 3
    assert len({round(o.mesh.volume, 7) for o in objs}) == len(objs)


def test_farthest_point_sampling_spreads_points():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(0, 0.001, (500, 3)), [[1.0, 0, 0], [-1.0, 0, 0]]])
    chosen = farthest_point_sample(pts, 3)
    assert {500, 501} <= set(chosen.tolist())
