"""Physics validation of grasp sequences (paper §V); see docs/validation.md.

Modules, one job each: :mod:`.protocol` (the shared parameters), :mod:`.steps`
(rows → tasks), :mod:`.convex` (convex pieces), :mod:`.scene` (MuJoCo scenes),
:mod:`.simulate` (closing and shaking), :mod:`.penetration` (exact depths),
:mod:`.mujoco_validator` and :mod:`.isaacgym_validator` (the validators; Isaac
Gym runs out of process: :mod:`.isaacgym_process` on this side,
:mod:`.isaacgym_worker` under the user's Python 3.8), :mod:`.interface` (the
``Validator`` a plugin implements), :mod:`.table` (validating a run table, Table III
summary). The bundled validators are registered by :mod:`seqgrasp_core.bundled.validators`.
"""

from seqgrasp_core.validation.protocol import PAPER_PROTOCOL, ValidationProtocol
from seqgrasp_core.validation.table import load_run_meshes, summarize, validate_table, with_results

__all__ = ["PAPER_PROTOCOL", "ValidationProtocol", "load_run_meshes", "summarize",
           "validate_table", "with_results"]
