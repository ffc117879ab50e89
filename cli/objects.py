"""``seqgrasp objects synth|check``: make a procedural object set, check a mesh folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import EXIT_USER_ERROR, user_errors
from .options import JsonOpt

objects_app = typer.Typer(help="Make and check object sets.", no_args_is_help=True)


@objects_app.command("synth")
@user_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write obj_000.stl … and "
                                                    "objects.json into.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000,
                                       help="Number of objects.")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0,
                                      help="Seed: the same seed writes the same bytes.")] = 0,
) -> None:
    """Write a seeded set of watertight procedural objects (superquadrics, tori, bent
    tubes, cups, unions), each 0.06–0.10 m along its longest edge."""
    from seqgrasp_core.objects.catalog import write_synthetic_set

    def shown(obj):
        typer.echo(f"{obj.name}: {obj.family}, {obj.size:.3f} m, {len(obj.mesh.faces)} faces")

    write_synthetic_set(out, count, seed, progress=shown)
    typer.echo(f"wrote {count} objects and objects.json to {out}")


@objects_app.command("check")
@user_errors
def check(
    folder: Annotated[Path, typer.Argument(help="Folder of mesh files.")],
    as_json: JsonOpt = False,
    cache: Annotated[bool, typer.Option(
        "--cache", help="Also build and cache each usable object's SDF grid and convex "
                        "pieces, as loaded as-is and scaled to 0.06–0.10 m.")] = False,
) -> None:
    """Load every mesh in FOLDER as a run would and report ok, repaired or rejected
    (with the reason); exit 2 when any is rejected."""
    from seqgrasp_core.errors import MeshError
    from seqgrasp_core.objects.catalog import check_mesh, folder_meshes

    paths = folder_meshes(folder)
    if not paths:
        raise MeshError(f"no mesh files in {folder}", "put .obj/.stl/.ply/.off/.glb files there")
    rows = []
    for path in paths:
        row, mesh = check_mesh(path)
        if cache and mesh is not None:
            typer.echo(f"caching {row.name}: SDF grid and convex pieces", err=True)
            _cache(mesh, row)
        rows.append(row)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        _table(rows, folder)
    rejected = [r.name for r in rows if not r.usable]
    if rejected:
        print(f"error: {len(rejected)} of {len(rows)} meshes rejected: {', '.join(rejected)}",
              file=sys.stderr)
        raise typer.Exit(EXIT_USER_ERROR)


def _cache(mesh, row) -> None:
    from seqgrasp_core.objects.mesh import GraspObject
    from seqgrasp_core.objects.sdf import SDFGrid
    from seqgrasp_core.synthesis.sequence import GenerateConfig
    from seqgrasp_core.validation.convex import convex_pieces

    for scale in sorted({1.0, row.scale}):
        scaled = mesh.copy()
        scaled.apply_scale(scale)
        obj = GraspObject(object_id=Path(row.name).stem, sha256=row.sha256, scale=scale,
                          mesh=scaled, surface_points=None)
        SDFGrid.for_object(obj, GenerateConfig.sdf_resolution)
        convex_pieces(scaled, row.sha256, scale)


def _table(rows, folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    style = {"ok": "green", "repaired": "yellow", "rejected": "red"}
    table = Table(title=f"meshes in {folder}",
                  caption="edge: longest bounding-box edge; scale: factor into 0.06–0.10 m")
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for column in ("faces", "edge m", "scale"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("sha256", no_wrap=True)
    for r in rows:
        usable = r.usable
        table.add_row(r.name, f"[{style[r.status]}]{r.status}[/]", r.reason,
                      str(r.faces) if usable else "", f"{r.size:.4f}" if usable else "",
                      f"{r.scale:.3g}" if usable else "", r.sha256[:10])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(objects_app, name="objects")
