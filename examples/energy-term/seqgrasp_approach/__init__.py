"""An energy-term plugin: ``approach``, how far the palm faces away from a direction.

``E = 1 − n · d`` per grasp. ``n`` is the hand's palm normal (``[palm] normal`` in
hand.toml: unit, hand frame, from the palm towards a grasped object) turned into the
frame of the object being grasped; ``d`` is the unit direction the palm should face
in that frame. The default ``d = −z`` makes the palm face down onto an object whose
mesh is z-up: grasps from above. ``E`` has no unit: 0 when the palm faces along
``d``, 1 at 90°, 2 facing the opposite way. It depends on the grasp's rotation only,
so its gradient turns the wrist and leaves the position and the joints to the other
terms.
"""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, GraspState, SeqGraspError, dot, hookimpl, rotate


class ApproachDirection(EnergyTerm):
    name = "approach"
    default_weight = 0.0  # installed, it changes nothing until --energy approach=W
    description = "1 − cos of the angle between the palm normal and a direction (object frame)"
    stages = ("optimize", "refine")

    def __init__(self, direction: tuple[float, float, float] = (0.0, 0.0, -1.0)) -> None:
        d = torch.as_tensor(direction, dtype=torch.float64)
        if d.shape != (3,) or not bool(torch.isfinite(d).all()) or float(d.norm()) == 0.0:
            raise SeqGraspError(f"approach direction {direction!r} is not a 3-vector",
                                "give three finite numbers, not all zero")
        self.direction = d / d.norm()

    def __call__(self, state: GraspState) -> torch.Tensor:
        like = {"dtype": state.pose.dtype, "device": state.pose.device}
        palm = torch.tensor(state.hand.spec.palm_normal, **like)  # (3,), hand frame
        normal = rotate(state.hand_to_object_t, palm)  # (3, B), object frame
        return 1.0 - dot(normal, self.direction.to(**like)[:, None])  # (B,)


@hookimpl
def register_energy_terms(register):
    register(ApproachDirection())
