"""Validating a run table and summarising the results (paper Table III)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from seqgrasp_core.errors import MeshError, RunFileError, SeqGraspError
from seqgrasp_core.objects.mesh import MESH_SUFFIXES, file_sha256, read_mesh
from seqgrasp_core.validation.interface import StepResult
from seqgrasp_core.validation.steps import row_faults


def load_run_meshes(metadata: dict, objects_dir: str | Path | None = None) -> dict:
    """``{sha256: mesh as read from its file (unscaled)}`` for a run's objects.

    Each object's ``source`` path is used when its content hash matches; otherwise
    (or always, with ``objects_dir``) the mesh files in ``objects_dir`` are matched
    by content hash.
    """
    entries = metadata.get("objects")
    if not isinstance(entries, list) or not entries:
        raise RunFileError("the run file's metadata lists no objects",
                           "regenerate it with `seqgrasp generate`")
    if objects_dir is not None and not Path(objects_dir).is_dir():
        raise MeshError(f"object folder {objects_dir} not found"
                        + (" (it is a file)" if Path(objects_dir).exists() else ""),
                        "pass --objects DIR, a folder with the run's meshes")
    by_hash: dict[str, Path] | None = None
    out = {}
    for entry in entries:
        sha, source = entry.get("sha256"), entry.get("source") or ""
        if sha in out:
            continue
        path = Path(source) if source else None
        if path is None or not path.is_file() or file_sha256(path) != sha:
            if objects_dir is not None:
                if by_hash is None:
                    by_hash = _hash_folder(Path(objects_dir))
                path = by_hash.get(sha)
            else:
                path = None
        if path is None:
            where = f"in {objects_dir}" if objects_dir is not None else f"at {source!r}"
            raise MeshError(
                f"mesh of object {entry.get('object_id', '?')!r} (sha256 {str(sha)[:12]}…) "
                f"not found {where}",
                "pass --objects DIR, a folder with the meshes (matched by content hash)")
        out[sha] = read_mesh(path)
    return out


def _hash_folder(folder: Path) -> dict[str, Path]:
    """``{sha256: path}`` of the mesh files below ``folder`` (checked by the caller)."""
    return {file_sha256(p): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix.lower() in MESH_SUFFIXES}


def validate_table(table, metadata: dict, hand_spec, validator, workers: int = 1,
                   progress: Callable[[int, int], None] | None = None, *,
                   objects_dir: str | Path | None = None
                   ) -> list[StepResult]:
    """One :class:`~seqgrasp_core.validation.interface.StepResult` per row of ``table``, in row order."""
    if not validator.available():
        raise SeqGraspError(f"validator {validator.name!r} is not available",
                            validator.unavailable_hint)
    if table.num_rows == 0:
        return []
    faults = row_faults(table)
    meshes = load_run_meshes(metadata, objects_dir)
    unknown = sorted(set(table.column("object_sha256").to_pylist()) - set(meshes))
    if unknown:
        raise RunFileError(f"rows name object sha256 {unknown[0][:12]}…, which the run's "
                           "metadata does not list", "regenerate the run file")
    results = validator.validate(table, meshes, hand_spec, workers=workers, progress=progress)
    if len(results) != table.num_rows:
        raise SeqGraspError(f"validator {validator.name!r} returned {len(results)} results "
                            f"for {table.num_rows} rows", "report this to its plugin's authors")
    return [_checked(r, faults.get(i)) for i, r in enumerate(results)]


def _checked(result: StepResult, fault: str | None) -> StepResult:
    """``result``, failed whatever the validator said when the row could not be
    simulated (``fault``) or its depth is not a number."""
    if fault:
        return StepResult(False, math.nan, math.nan, fault)
    if result.success and not math.isfinite(result.max_penetration_mm):
        return StepResult(False, math.nan, math.nan, "the validator measured no depth")
    if not result.success and not result.failure:
        return replace(result, failure="failed")
    return result


def with_results(table, results: list[StepResult]):
    """``table`` plus the ``success``, ``max_penetration_mm``,
    ``hand_penetration_mm`` and ``failure`` columns (replaced if present)."""
    import pyarrow as pa

    for name, kind in (("success", pa.bool_()), ("max_penetration_mm", pa.float32()),
                       ("hand_penetration_mm", pa.float32()), ("failure", pa.string())):
        values = [getattr(r, name) for r in results]
        column = pa.array(values, type=kind)
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, column)
        else:
            table = table.append_column(name, column)
    return table


def summarize(table) -> list[dict]:
    """One row per number of objects held (the ``step``), like the paper's Table III.

    ``success_rate`` is the percentage of rows at that step that passed;
    ``mean_max_penetration_mm`` the mean over the rows of that step that have a
    depth, and ``mean_hand_penetration_mm`` the same for the hand–object depth alone
    (the paper's "Pene."; NaN where the table has no such column);
    ``unmeasured`` counts the rows without a depth (not simulated, e.g. a grasp that
    is not a finite number: failures, left out of the means); ``diversity_rad`` the standard
    deviation of the grasp vector ``[pose (9), joints (K)]`` over the successful
    rows, per dimension, averaged over the dimensions (NaN with fewer than two
    successes). An empty table has no rows.
    """
    if table.num_rows == 0:
        return []
    step = table.column("step").to_numpy().astype(int)
    ok = np.asarray(table.column("success").to_pylist(), dtype=bool)
    pen = np.asarray(table.column("max_penetration_mm").to_pylist(), dtype=float)
    hand = (np.asarray(table.column("hand_penetration_mm").to_pylist(), dtype=float)
            if "hand_penetration_mm" in table.column_names else np.full(len(pen), np.nan))
    g = np.concatenate((np.asarray(table.column("pose").to_pylist(), dtype=float),
                        np.asarray(table.column("joints").to_pylist(), dtype=float)), axis=1)
    rows = []
    for n in sorted(set(step.tolist())):
        at = step == n
        good = g[at & ok]
        rows.append({
            "objects": n, "grasps": int(at.sum()), "successes": int((at & ok).sum()),
            "success_rate": 100.0 * float(ok[at].mean()),
            "mean_max_penetration_mm": _finite_mean(pen[at]),
            "mean_hand_penetration_mm": _finite_mean(hand[at]),
            "unmeasured": int((~np.isfinite(pen[at])).sum()),
            "diversity_rad": float(good.std(axis=0).mean()) if len(good) > 1 else float("nan"),
        })
    return rows


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")
