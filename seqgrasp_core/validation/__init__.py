"""Physics validation of grasp sequences (paper §V); see docs/validation.md.

Modules, one job each: :mod:`.protocol` (the shared parameters), :mod:`.steps`
(rows → tasks), :mod:`.convex` (convex pieces), :mod:`.scene` (MuJoCo scenes),
:mod:`.simulate` (closing and shaking), :mod:`.penetration` (exact depths),
:mod:`.mujoco_validator` and :mod:`.isaacgym_validator` (the validators),
:mod:`.table` (validating a run table, Table III summary), :mod:`.plugin`.
"""

from seqgrasp_core.validation.protocol import PAPER_PROTOCOL, ValidationProtocol
from seqgrasp_core.validation.table import load_run_meshes, summarize, validate_table, with_results

__all__ = ["PAPER_PROTOCOL", "ValidationProtocol", "load_run_meshes", "summarize",
           "validate_table", "with_results"]
