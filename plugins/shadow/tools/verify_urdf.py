"""Check ``shadow_right.urdf`` against the MJCF it was written from.

    python plugins/shadow/tools/verify_urdf.py PATH/TO/right_hand.xml

1. pytorch_kinematics forward kinematics of the URDF against MuJoCo forward kinematics
   of the MJCF (meshes and mesh geoms removed), for random joint angles within the
   limits, every body, in the palm frame (wrist joints at zero);
2. MuJoCo loads the URDF and its forward kinematics agrees too.

Prints the largest position and rotation differences; exits non-zero above 1e-6.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

URDF = Path(__file__).resolve().parent.parent / "shadow_right.urdf"


def strip_meshes(xml: str) -> str:
    xml = re.sub(r"<mesh [^>]*/>", "", xml)
    return re.sub(r"<geom [^>]*mesh=\"[^\"]*\"[^>]*/>", "", xml, flags=re.S)


def compare(mjcf: Path, samples: int = 20, seed: int = 0) -> tuple[float, float, float]:
    """``(position error, rotation error of MJCF vs pytorch_kinematics, MuJoCo-URDF vs MJCF)``."""
    import mujoco
    import pytorch_kinematics as pk
    import torch

    ref = mujoco.MjModel.from_xml_string(strip_meshes(mjcf.read_text()))
    ours = mujoco.MjModel.from_xml_string(URDF.read_text())
    chain = pk.build_chain_from_urdf(URDF.read_bytes()).to(dtype=torch.float64)
    names = chain.get_joint_parameter_names()
    lo, hi = (np.asarray(v) for v in chain.get_joint_limits())
    rng = np.random.default_rng(seed)
    q = rng.uniform(lo, hi, size=(samples, len(names)))
    frames = chain.forward_kinematics(torch.as_tensor(q))
    ref_data, our_data = mujoco.MjData(ref), mujoco.MjData(ours)
    palm = ref.body("rh_palm").id
    pos_err = rot_err = mj_err = 0.0
    for b in range(samples):
        for i, name in enumerate(names):
            ref_data.qpos[ref.joint(name).qposadr[0]] = q[b, i]
            our_data.qpos[ours.joint(name).qposadr[0]] = q[b, i]
        mujoco.mj_kinematics(ref, ref_data)
        mujoco.mj_kinematics(ours, our_data)
        r0 = ref_data.xmat[palm].reshape(3, 3)
        p0 = ref_data.xpos[palm]
        for link, tf in frames.items():
            m = tf.get_matrix()[b].numpy()
            rid = ref.body(link).id
            rel_p = r0.T @ (ref_data.xpos[rid] - p0)
            rel_r = r0.T @ ref_data.xmat[rid].reshape(3, 3)
            pos_err = max(pos_err, np.abs(m[:3, 3] - rel_p).max())
            rot_err = max(rot_err, np.abs(m[:3, :3] - rel_r).max())
            oid = ours.body(link).id
            mj_err = max(mj_err, np.abs(our_data.xpos[oid] - m[:3, 3]).max(),
                         np.abs(our_data.xmat[oid].reshape(3, 3) - m[:3, :3]).max())
    return pos_err, rot_err, mj_err


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    errors = compare(Path(sys.argv[1]))
    print("position %.2e m, rotation %.2e, MuJoCo-on-URDF %.2e" % errors)
    sys.exit(0 if max(errors) < 1e-6 else 1)
