"""`seqgrasp eval`: the experiment end to end on a tiny object set."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.runs.evaluation import draw_sequences


def test_draw_sequences_has_distinct_objects(tmp_path):
    paths = [tmp_path / f"{i}.obj" for i in range(5)]
    seqs = draw_sequences(paths, 3, 4, seed=0)
    assert len(seqs) == 3 and all(len(set(s)) == 4 for s in seqs)
    assert draw_sequences(paths, 3, 4, seed=0) == seqs
    assert all(len(s) == 2 for s in draw_sequences(paths[:2], 2, 4, seed=1))


def test_eval_writes_a_table_iii_report(mesh_dir, tmp_path):
    objects = tmp_path / "objects"
    objects.mkdir()
    for name in ("a.obj", "b.stl"):
        shutil.copy(mesh_dir / name, objects / name)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "--objects", str(objects), "--sequences", "1",
                                      "--batch", "4", "--steps", "10", "--max-objects", "2",
                                      "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [r["objects"] for r in report["rows"]] == [1, 2]
    first = report["rows"][0]
    assert first["grasps"] == 4
    assert 0.0 <= first["success_rate"] <= 100.0
    assert first["penetration_mm"] >= 0.0 and first["seconds_per_256"] > 0.0
    assert 0.0 <= first["hand_penetration_mm"] <= first["penetration_mm"]
    assert set(first) == {"objects", "grasps", "success_rate", "penetration_mm",
                          "hand_penetration_mm", "seconds_per_256", "diversity", "unmeasured"}
    assert first["unmeasured"] == 0


def test_eval_on_an_empty_folder_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--objects", str(tmp_path), "--sequences", "1"])
    assert result.exit_code == 2
    assert "no mesh files" in result.stderr
