"""A small synthetic model file in the MANO format (not the real, licence-gated one).

The mesh is a capsule around every segment of the mean MANO hand, each capsule's
vertices skinned fully to its joint; the joint regressor reproduces the mean rest
joints exactly. The keys are those smplx's MANO loader reads.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

PARENTS = [0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]


def write_synthetic_mano(folder: Path) -> Path:
    import trimesh

    from seqgrasp_mano.model import MEAN_JOINTS, tips_from_joints

    joints = MEAN_JOINTS
    tips = tips_from_joints(joints)
    verts, faces, part = [], [], []
    segments = [(0, joints[0], joints[1 + 3 * k]) for k in range(4)]
    for j in range(1, 16):
        end = joints[j + 1] if j % 3 else tips[j // 3 - 1]
        segments.append((j, joints[j], end))
    for j, a, b in segments:
        d = b - a
        length = float(np.linalg.norm(d))
        mesh = trimesh.creation.capsule(height=length, radius=0.008, count=[6, 6])
        z = d / length
        axis = np.cross([0, 0, 1.0], z)
        angle = np.arccos(np.clip(z[2], -1, 1))
        rot = (trimesh.transformations.rotation_matrix(angle, axis) if np.linalg.norm(axis) > 1e-9
               else np.eye(4))
        mesh.apply_transform(rot)
        mesh.apply_translation(a + d / 2)  # trimesh's capsule is centred at the origin
        faces.append(mesh.faces + sum(len(v) for v in verts))
        verts.append(np.asarray(mesh.vertices))
        part += [j] * len(mesh.vertices)
    v = np.concatenate(verts)
    n = len(v)
    weights = np.zeros((n, 16))
    weights[np.arange(n), part] = 1.0
    data = {
        "v_template": v,
        "f": np.concatenate(faces).astype(np.uint32),
        "weights": weights,
        "J_regressor": joints @ np.linalg.pinv(v),  # J_regressor · v = joints
        "kintree_table": np.array([[4294967295] + PARENTS[1:], list(range(16))], dtype=np.int64),
        "shapedirs": np.zeros((n, 3, 10)),
        "posedirs": np.zeros((n, 3, 135)),
        "hands_components": np.eye(45),
        "hands_mean": np.zeros(45),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "MANO_RIGHT.pkl"
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    return path
