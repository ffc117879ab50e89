"""A validator plugin: ``depth-screen``, a step passes when nothing reaches deep.

For each row it measures what the bundled ``mujoco`` validator measures first: the
largest depth of the hand in an object or of one object in another (on the real
meshes, the hand's collision primitives placed at the row's joints), and the
hand–object depth alone. A step passes when the largest depth is below
``limit_mm`` (2 mm unless ``-o limit_mm=X``). Nothing is closed, shaken or
simulated in time, so it says nothing about whether the hand holds the objects.

How it measures: the bundled validator tests depth before anything else and stops
at a row whose depth reaches its protocol's limit. With a limit of 0 every row
stops there, after its depths are measured; this plugin then applies its own limit.
"""

from __future__ import annotations

import importlib.util
import math

from seqgrasp_core.api import SeqGraspError, StepResult, ValidationProtocol, Validator, hookimpl


class DepthScreen(Validator):
    name = "depth-screen"
    description = "largest hand–object or object–object depth below a limit; no physics run"
    unavailable_hint = "MuJoCo is not installed: pip install mujoco"
    options = {"limit_mm": "depth (mm) at which a step fails; default 2"}

    def __init__(self, limit_mm: float = 2.0) -> None:
        if not (math.isfinite(limit_mm) and limit_mm > 0):
            raise SeqGraspError(f"depth-screen limit {limit_mm!r} mm is not a positive number",
                                "e.g. -o limit_mm=2")
        self.limit_mm = limit_mm

    def configured(self, options):
        super().configured(options)  # refuses a key that `options` does not declare
        if "limit_mm" not in options:
            return self
        try:
            return DepthScreen(float(options["limit_mm"]))
        except ValueError:
            raise SeqGraspError(f"depth-screen limit {options['limit_mm']!r} is not a number",
                                "e.g. -o limit_mm=2") from None

    def available(self) -> bool:
        return importlib.util.find_spec("mujoco") is not None

    def validate(self, table, meshes, hand, *, workers=1, progress=None):
        from seqgrasp_core.api import MuJoCoValidator  # loads MuJoCo: only when used

        measure = MuJoCoValidator(ValidationProtocol(penetration_threshold=0.0))
        measured = measure.validate(table, meshes, hand, workers=workers, progress=progress)
        results = []
        for row in measured:  # one per row, in row order
            depth = row.max_penetration_mm
            if not math.isfinite(depth):  # not simulated: the row's own fault says why
                results.append(StepResult(False, math.nan, math.nan, row.failure))
            elif depth >= self.limit_mm:
                results.append(StepResult(False, depth, row.hand_penetration_mm,
                                          f"depth {depth:.2f} mm ≥ {self.limit_mm:g} mm"))
            else:
                results.append(StepResult(True, depth, row.hand_penetration_mm))
        return results


@hookimpl
def register_validators(register):
    register(DepthScreen())
