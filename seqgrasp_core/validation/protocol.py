"""The validation protocol of the paper (§V), shared by every physics validator.

The numbers are the peers' Isaac Gym set-up (SeqGrasp's public code, after
DexGraspNet): density 500 kg/m³, friction 2.0, fingers closed until within 2 mm of
contact, then 9.8 m/s² along each of ±x, ±y, ±z (hand frame) for 100 steps of
1/60 s (2 substeps each), and a penetration limit of 1 cm.
"""

from __future__ import annotations

from dataclasses import dataclass

AXIS_DIRECTIONS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0),
    (0.0, -1.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, -1.0))


@dataclass(frozen=True)
class ValidationProtocol:
    """What a validated step must survive; simulator-independent.

    Units: kg/m³, metres, m/s², seconds. ``directions`` are unit vectors in the hand
    frame along which the acceleration acts, one simulation run each.
    """

    density: float = 500.0
    friction: float = 2.0
    closing_distance: float = 0.002
    acceleration: float = 9.8
    steps: int = 100
    step_dt: float = 1.0 / 60.0
    substeps: int = 2
    directions: tuple[tuple[float, float, float], ...] = AXIS_DIRECTIONS
    penetration_threshold: float = 0.01

    @property
    def duration(self) -> float:
        """Simulated seconds per direction: ``steps × step_dt`` (1.67 s by default)."""
        return self.steps * self.step_dt


PAPER_PROTOCOL = ValidationProtocol()
