"""`seqgrasp hand show` and the cameras of both pictures (`--view palm|side|top`).

The cameras are checked from their definition (seqgrasp_core.visualize.camera), not
from pixels: after the transform the renderers apply, the palm normal must point
towards the viewer in the palm view, for hands whose frames differ (the Allegro's palm
faces +x, the Shadow hand's -y).
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'id="seqgrasp-data">(.*?)</script>', text, re.S).group(1))


# ----------------------------------------------------------------------------- cameras


def _check_views(axes):
    """Every view is a rotation; palm looks at the palm with the fingers up, side looks
    along n × f, top looks down the fingers."""
    from seqgrasp_core.visualize.camera import VIEWS, view_rotation

    n, f = axes.palm_normal, axes.finger
    assert abs(n @ f) < 1e-9 and np.isclose(np.linalg.norm(f), 1)
    for name in VIEWS:
        r = view_rotation(axes, name)
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(r), 1)
    palm = view_rotation(axes, "palm")
    # rows: right, up, towards the viewer. The palm normal points at the camera ...
    assert (palm @ n)[2] > 0.8
    # ... but not straight at it (the view is turned, so the fingers' depth shows) ...
    assert (palm @ n)[2] < 0.95
    # ... and the fingers point up in the picture.
    assert (palm @ f)[1] > 0.9
    side = view_rotation(axes, "side")
    assert np.isclose((side @ np.cross(n, f))[2], -1)   # looking along n × f
    assert np.isclose((side @ f)[1], 1)
    top = view_rotation(axes, "top")
    assert np.isclose((top @ f)[2], 1)                   # the fingertips face the camera
    assert np.isclose((top @ n)[1], 1)                   # the palm faces up


@pytest.mark.parametrize("normal", [(1, 0, 0), (0, -1, 0), (0, 0, 1), (-0.3, 0.5, 0.8)])
def test_views_follow_the_palm_normal_whatever_the_frame(normal):
    from seqgrasp_core.visualize.camera import hand_axes

    rng = np.random.default_rng(0)
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    # contact candidates 8 cm "up the fingers" from the palm centre, along a direction
    # that is not orthogonal to n: the finger direction is its part orthogonal to n
    up = np.cross(n, [0.3, 0.2, 0.9])
    up /= np.linalg.norm(up)
    centre = np.array([0.01, -0.02, 0.03])
    points = centre + 0.08 * (up + 0.4 * n) + 0.01 * rng.standard_normal((50, 3))
    axes = hand_axes(centre, n, points)
    assert axes.finger @ up > 0.98
    _check_views(axes)


def test_finger_direction_without_a_lever_is_still_orthogonal():
    from seqgrasp_core.visualize.camera import hand_axes

    axes = hand_axes((0, 0, 0), (0, -1, 0), np.array([[0.0, -0.05, 0.0]]))  # only along n
    _check_views(axes)


@pytest.mark.parametrize("hand, normal, finger", [
    ("allegro", (1, 0, 0), (0, 0, 1)),    # palm +x, fingers +z
    ("shadow", (0, -1, 0), (0, 0, 1)),    # palm -y, fingers +z
])
def test_the_palm_faces_the_camera_for_bundled_hands(plugins, hand, normal, finger):
    from seqgrasp_core.hands.model import HandModel
    from seqgrasp_core.visualize.camera import view_rotation
    from seqgrasp_core.visualize.png import _Painter
    from seqgrasp_core.visualize.scene import spec_axes

    spec = plugins.hand(hand)
    axes = spec_axes(spec, HandModel(spec, surface_points=16))
    assert np.allclose(axes.palm_normal, normal)
    assert axes.finger @ np.asarray(finger, float) > 0.95
    _check_views(axes)
    # The transform the PNG renderer applies: the palm centre moved along the palm
    # normal comes nearer to the camera (depth grows towards the viewer).
    painter = _Painter(view_rotation(axes, "palm"))
    centre, tip = painter.to_camera(np.stack([axes.palm_center,
                                              axes.palm_center + 0.03 * axes.palm_normal]))
    assert tip[2] - centre[2] > 0.8 * 0.03


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def allegro_outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handshow")
    for name in ("allegro.png", "allegro.html"):
        result = _run("hand", "show", "allegro", "--out", folder / name)
        assert result.exit_code == 0, result.output
        assert f"wrote {folder / name}" in result.output and "palm view" in result.output
    return folder


def test_png_is_a_picture_with_every_pad_group_coloured(allegro_outputs, allegro_spec):
    from PIL import Image

    from seqgrasp_core.visualize.hand_view import group_color

    data = (allegro_outputs / "allegro.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.width >= 600 and img.height >= 500
    rgb = np.asarray(img.convert("RGB")).astype(int)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 200
    # Seen from the palm side, the pads and the palm face the camera: their dots show.
    names = list(allegro_spec.contact_groups)
    for group in ("index_pad", "middle_pad", "ring_pad", "thumb_pad", "palm"):
        colour = np.round(255 * np.asarray(group_color(names.index(group))))
        hits = (np.abs(rgb - colour).max(-1) <= 3).sum()
        assert hits > 40, (group, hits)


def test_html_embeds_one_marker_per_candidate_with_group_colours(allegro_outputs,
                                                                  allegro_spec, allegro):
    import torch

    from seqgrasp_core.visualize.camera import view_rotation
    from seqgrasp_core.visualize.hand_view import ARROW_LENGTH, NORMAL_LENGTH, group_color
    from seqgrasp_core.visualize.scene import spec_axes

    data = _page_data(allegro_outputs / "allegro.html")
    groups = list(allegro_spec.contact_groups.values())
    by_label = {m["label"]: m for m in data["markers"]}
    assert [m["label"] for m in data["markers"]] == [g.name for g in groups] + ["palm centre"]
    total = 0
    for i, g in enumerate(groups):
        pts = np.asarray(by_label[g.name]["points"]).reshape(-1, 3)
        assert len(pts) == len(g)
        assert np.allclose(by_label[g.name]["color"], group_color(i), atol=1e-3)
        total += len(pts)
    assert total == sum(len(g) for g in groups) == allegro.contact_local.shape[0]
    assert len({tuple(m["color"]) for m in data["markers"][:-1]}) == len(groups)
    legend = {e["label"]: e for e in data["legend"]}
    for i, g in enumerate(groups):
        assert legend[g.name]["count"] == len(g)
        assert np.allclose(legend[g.name]["color"], group_color(i), atol=1e-3)

    # The points are the candidates placed by the hand's own forward kinematics
    # (pytorch_kinematics' reference path) at the open pose.
    with torch.no_grad():
        links = allegro.reference_link_transforms(allegro.open_pose[None])[0].double().numpy()
    t = links[allegro.contact_link.numpy()]
    expected = np.einsum("cij,cj->ci", t[:, :3, :3], allegro.contact_local.double().numpy()) \
        + t[:, :3, 3]
    drawn = np.concatenate([np.asarray(by_label[g.name]["points"]).reshape(-1, 3)
                            for g in groups])
    assert np.allclose(drawn, expected, atol=2e-5)
    inward = np.einsum("cij,cj->ci", t[:, :3, :3], allegro.contact_normal_local.double().numpy())

    segs = {s["label"]: s for s in data["segments"]}
    starts = np.concatenate([np.asarray(segs[f"{g.name} normals"]["starts"]).reshape(-1, 3)
                             for g in groups])
    ends = np.concatenate([np.asarray(segs[f"{g.name} normals"]["ends"]).reshape(-1, 3)
                           for g in groups])
    assert np.allclose(starts, drawn)
    # 5 mm outward: against the stored inward normals
    assert np.allclose(ends - starts, -NORMAL_LENGTH * inward, atol=2e-5)

    palm = segs["palm normal"]
    centre = np.asarray(allegro_spec.palm_center)
    assert np.allclose(palm["starts"], centre, atol=1e-5)
    assert np.allclose(palm["ends"], centre + ARROW_LENGTH * np.asarray(allegro_spec.palm_normal),
                       atol=1e-5)
    assert palm["arrow"] and np.allclose(by_label["palm centre"]["points"], centre, atol=1e-5)
    for name, axis in zip("xyz", np.eye(3)):
        seg = segs[f"hand frame {name}"]
        assert np.allclose(seg["starts"], 0) and np.allclose(seg["ends"], ARROW_LENGTH * axis)
    # the page opens at the palm view of this hand
    axes = spec_axes(allegro_spec, allegro)
    assert np.allclose(data["camera"], view_rotation(axes, "palm"), atol=1e-5)
    assert len(data["steps"]) == 1 and data["objects"] == []


def test_views_give_different_pictures_and_pages(tmp_path):
    from PIL import Image

    from seqgrasp_core.visualize.camera import VIEWS

    pictures = {}
    for view in VIEWS:
        out = tmp_path / f"{view}.png"
        result = _run("hand", "show", "shadow", "--view", view, "--out", out)
        assert result.exit_code == 0, result.output
        assert f"{view} view" in result.output
        pictures[view] = np.asarray(Image.open(out).convert("RGB")).astype(int)
    for a, b in (("palm", "side"), ("palm", "top"), ("side", "top")):
        assert (np.abs(pictures[a] - pictures[b]).sum(-1) > 30).sum() > 5000, (a, b)
    out = tmp_path / "side.html"
    assert _run("hand", "show", "shadow", "--view", "side", "--out", out).exit_code == 0
    camera = np.asarray(_page_data(out)["camera"])
    assert abs(camera[2] @ np.array([0.0, -1.0, 0.0])) < 1e-6  # palm normal ⟂ view direction


def test_the_cli_views_are_the_cameras():
    from seqgrasp_cli.show import View
    from seqgrasp_core.visualize.camera import VIEWS

    assert tuple(v.value for v in View) == VIEWS


@pytest.mark.parametrize("args, expected", [
    (("hand", "show", "nope", "--out", "x.png"), "unknown hand 'nope'"),
    (("hand", "show", "allegro", "--out", "x.pdf"), "use --out FILE.html or FILE.png"),
    (("hand", "show", "allegro", "-o", "colour=red", "--out", "x.png"), "has no option 'colour'"),
    (("hand", "show", "allegro", "-o", "novalue", "--out", "x.png"), "is not KEY=VALUE"),
])
def test_bad_requests_are_one_line_and_write_nothing(tmp_path, args, expected):
    args = [tmp_path / a if isinstance(a, str) and a.startswith("x.") else a for a in args]
    result = _run(*args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [("hand", "show", "allegro"), ("show", "run.parquet",
                                                                   "--sequence", "0")])
def test_an_unknown_view_is_refused(tmp_path, command):
    out = tmp_path / "x.png"
    result = _run(*command, "--view", "bad", "--out", out)
    assert result.exit_code == 2
    assert "--view" in result.output and "palm" in result.output
    assert not out.exists()


def test_doc_examples_of_hand_show(tmp_path, monkeypatch):
    """The ``seqgrasp hand show`` lines of docs/show-and-replay.md's console blocks run."""
    import shlex
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "show-and-replay.md"
    blocks = re.findall(r"```console\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    examples = [shlex.split(line)[1:] for block in blocks for line in block.splitlines()
                if line.startswith("seqgrasp hand show ")]
    assert len(examples) == 2
    monkeypatch.chdir(tmp_path)
    for args in examples:
        result = _run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert (tmp_path / args[args.index("--out") + 1]).stat().st_size > 1000
