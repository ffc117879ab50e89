"""Shared fixtures: the Allegro hand model (built once) and small meshes made here."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    os.environ["SEQGRASP_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def plugins():
    from seqgrasp_core.plugins.manager import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def allegro_spec(plugins):
    return plugins.hand("allegro")


@pytest.fixture(scope="session")
def allegro(allegro_spec):
    from seqgrasp_core.hands.model import HandModel

    return HandModel(allegro_spec)


@pytest.fixture(scope="session")
def mesh_dir(tmp_path_factory):
    """Small meshes: a box (.obj), a cylinder (.stl), a too-large box, a file that is not a
    mesh, a box with a missing face (repairable) and an open tube (not repairable)."""
    import trimesh

    folder = tmp_path_factory.mktemp("meshes")
    trimesh.creation.box(extents=(0.04, 0.05, 0.06)).export(folder / "a.obj")
    trimesh.creation.cylinder(radius=0.02, height=0.07, sections=24).export(folder / "b.stl")
    trimesh.creation.box(extents=(0.5, 0.3, 0.3)).export(folder / "huge.obj")
    (folder / "notes.obj").write_text("this is not a mesh\nf 1 2 x\n")
    nicked = trimesh.creation.box(extents=(0.05, 0.05, 0.05))  # one face missing: repairable
    nicked.update_faces(range(len(nicked.faces) - 2))
    nicked.export(folder / "nicked.stl")
    tube = trimesh.creation.cylinder(radius=0.02, height=0.06, sections=24)
    tube.update_faces(abs(tube.face_normals[:, 2]) < 0.5)  # no caps: two large holes
    tube.remove_unreferenced_vertices()
    tube.export(folder / "tube.stl")
    return folder
