"""`seqgrasp show`: the HTML page (self-contained, checked in headless Chromium) and the PNG."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it when "
                             "run as root; Debian package `chromium`)")


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_file(mesh_dir, tmp_path_factory):
    """A tiny generated run: 2 sequences of 2 objects (box, then cylinder)."""
    out = tmp_path_factory.mktemp("show") / "run.parquet"
    result = _run("generate", "--object", mesh_dir / "a.obj", "--object", mesh_dir / "b.stl",
                  "--batch", 2, "--steps", 3, "--seed", 1, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def view(run_file, plugins):
    from seqgrasp_core.runs.runfile import read_run
    from seqgrasp_core.visualize import sequence_view

    table, metadata = read_run(run_file)
    return sequence_view(table, metadata, plugins.hand("allegro"), 0)


# ----------------------------------------------------------------------------- scene


def test_objects_sit_at_the_inverse_of_their_pose_and_contacts_add_up(view, run_file):
    from seqgrasp_core.objects.mesh import read_mesh
    from seqgrasp_core.runs.runfile import read_run, sequence_rows
    from seqgrasp_core.validation.steps import pose_matrices

    table, _ = read_run(run_file)
    rows = sequence_rows(table, 0)
    assert [s.step for s in view.steps] == [1, 2]
    for i, (row, obj) in enumerate(zip(rows, view.objects)):
        # Back into object i's frame with row i's pose: the (scaled) mesh file again.
        t = pose_matrices(np.asarray([row["pose"]]))[0]
        back = obj.vertices @ t[:3, :3].T + t[:3, 3]
        mesh = read_mesh(_mesh_path(run_file, row["object_sha256"]))
        assert np.allclose(back, mesh.vertices * row["object_scale"], atol=1e-6), row["object_id"]
    for s in view.steps:
        assert s.contacts.shape == (2 * s.step, 3)
        assert s.contact_object.tolist() == sorted(s.contact_object.tolist())
        # every contact is on (or within 1 mm of) a hand primitive's bounding box
        lo = np.min([m.vertices.min(0) for m in s.hand], axis=0) - 1e-3
        hi = np.max([m.vertices.max(0) for m in s.hand], axis=0) + 1e-3
        assert np.all((s.contacts >= lo) & (s.contacts <= hi))
    # Objects go light -> dark: summed RGB strictly decreases in grasp order.
    brightness = [sum(o.color) for o in view.objects]
    assert brightness[0] > brightness[1] + 0.5


def _mesh_path(run_file, sha):
    from seqgrasp_core.runs.runfile import read_run

    _, metadata = read_run(run_file)
    return next(o["source"] for o in metadata["objects"] if o["sha256"] == sha)


def test_object_colors_run_from_light_to_dark():
    from seqgrasp_core.visualize import object_colors

    colors = np.asarray(object_colors(5))
    assert colors.shape == (5, 3)
    assert np.all(np.diff(colors.sum(axis=1)) < 0)
    assert np.all((colors >= 0) & (colors <= 1))


# ----------------------------------------------------------------------------- HTML


@pytest.fixture(scope="module")
def html_file(run_file):
    out = run_file.parent / "seq0.html"
    result = _run("show", run_file, "--sequence", 0, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    return out


def test_html_is_one_self_contained_file(html_file):
    text = html_file.read_text(encoding="utf-8")
    assert not re.search(r"https?://", text), "the page references the network"
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"<link\b", text)
    assert not re.search(r"@import|url\(", text)
    assert len(text) < 2_000_000
    data = json.loads(re.search(r'id="seqgrasp-data">(.*?)</script>', text, re.S).group(1))
    assert [s["step"] for s in data["steps"]] == [1, 2]
    assert len(data["objects"]) == 2 and data["initialStep"] == 2
    n_faces = len(data["handFaces"]) // 3
    assert n_faces > 100
    for s in data["steps"]:
        assert max(data["handFaces"]) < len(s["hand"]) // 3
        assert len(s["contacts"]) == 3 * 2 * s["step"]
    assert oct(html_file.stat().st_mode & 0o777) != oct(0o600)
    assert data["markers"] == [] and data["segments"] == [] and data["legend"] == []


def test_the_page_opens_facing_the_palm(html_file, view):
    from seqgrasp_core.visualize.camera import view_rotation

    data = json.loads(re.search(r'id="seqgrasp-data">(.*?)</script>',
                                html_file.read_text(encoding="utf-8"), re.S).group(1))
    camera = np.asarray(data["camera"])
    assert np.allclose(camera, view_rotation(view.axes, "palm"), atol=1e-5)
    # rows right, up, towards the viewer: the Allegro's palm normal (+x) faces the viewer
    assert np.allclose(view.axes.palm_normal, (1, 0, 0))
    assert camera[2] @ view.axes.palm_normal > 0.8


def _chromium(url, tmp_path, *extra):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
           "--window-size=1000,800", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def _body_attributes(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1)))


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and re.search(r"error|uncaught", line, re.I)]


@needs_chromium
def test_html_draws_in_headless_chromium_without_errors(html_file, tmp_path):
    proc = _chromium(html_file.as_uri() + "#selftest", tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = _body_attributes(proc.stdout)
    assert body.get("data-rendered") == "ok", body.get("data-error", body)
    assert "data-error" not in body
    assert _console_errors(proc.stderr) == []
    canvas_pixels = 900 * 620
    drawn = int(body["data-nonblank-pixels"])
    assert 0.02 * canvas_pixels < drawn < 0.9 * canvas_pixels
    per_step = [int(x) for x in body["data-nonblank-steps"].split(",")]
    assert len(per_step) == 2 and min(per_step) > 0.02 * canvas_pixels
    assert per_step[1] != per_step[0]            # step 2 adds an object
    assert int(body["data-rotated-pixels"]) != per_step[-1]    # dragging changes the view
    assert int(body["data-zoomed-pixels"]) > 1.5 * per_step[-1]  # zooming in grows it
    assert body["data-step"] == "2"


@pytest.fixture(scope="module")
def hand_html_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("hand") / "allegro.html"
    result = _run("hand", "show", "allegro", "--out", out)
    assert result.exit_code == 0, result.output
    return out


@needs_chromium
def test_hand_page_draws_in_headless_chromium_without_errors(hand_html_file, allegro_spec,
                                                             tmp_path):
    text = hand_html_file.read_text(encoding="utf-8")
    assert not re.search(r"https?://|<script[^>]*\bsrc=|<link\b", text)
    proc = _chromium(hand_html_file.as_uri() + "#selftest", tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = _body_attributes(proc.stdout)
    assert body.get("data-rendered") == "ok", body.get("data-error", body)
    assert _console_errors(proc.stderr) == []
    candidates = sum(len(g) for g in allegro_spec.contact_groups.values())
    assert int(body["data-markers"]) == candidates + 1        # and the palm centre
    assert int(body["data-segments"]) == candidates + 1 + 3   # normals, palm normal, axes
    drawn = int(body["data-nonblank-pixels"])
    assert 0.03 * 900 * 620 < drawn < 0.9 * 900 * 620
    assert int(body["data-rotated-pixels"]) != drawn
    assert int(body["data-zoomed-pixels"]) > 1.5 * drawn
    assert body["data-step"] == "1"


@needs_chromium
@pytest.mark.slow
def test_html_screenshot_is_not_one_colour_and_follows_the_step(html_file, tmp_path):
    from PIL import Image

    images = []
    for step in (1, 2):
        shot = tmp_path / f"shot{step}.png"
        proc = _chromium(html_file.as_uri() + f"#step={step}", tmp_path,
                         f"--screenshot={shot}")
        assert shot.is_file(), proc.stderr[-2000:]
        images.append(np.asarray(Image.open(shot).convert("RGB")).astype(int))
    for img in images:
        colours = np.unique(img.reshape(-1, 3), axis=0)
        assert len(colours) > 50
        background = np.array([251, 251, 253])
        assert (np.abs(img - background).sum(-1) > 12).mean() > 0.02
    assert (np.abs(images[0] - images[1]).sum(-1) > 30).sum() > 500


@needs_chromium
def test_a_broken_page_is_reported_in_the_dom(html_file, tmp_path):
    """The status the test relies on really turns to `error` when the script fails."""
    broken = tmp_path / "broken.html"
    text = html_file.read_text(encoding="utf-8")
    broken.write_text(text.replace('"handFaces":[', '"handFaces":null,"x":[', 1),
                      encoding="utf-8")
    body = _body_attributes(_chromium(broken.as_uri(), tmp_path, "--dump-dom").stdout)
    assert body.get("data-rendered") == "error"
    assert body.get("data-error")


# ----------------------------------------------------------------------------- PNG


def test_png_is_an_image_that_differs_between_steps(run_file, tmp_path):
    from PIL import Image

    images = {}
    for name, extra in (("all", ()), ("s1", ("--step", 1)), ("s2", ("--step", 2))):
        out = tmp_path / f"{name}.png"
        result = _run("show", run_file, "--sequence", 1, *extra, "--out", out)
        assert result.exit_code == 0, result.output
        img = Image.open(io.BytesIO(out.read_bytes()))
        assert img.format == "PNG"
        images[name] = np.asarray(img.convert("RGB")).astype(int)
    for img in images.values():
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50   # not one colour
        assert (img.sum(-1) < 3 * 240).mean() > 0.02              # something drawn on white
    assert images["s1"].shape == images["s2"].shape
    assert (np.abs(images["s1"] - images["s2"]).sum(-1) > 30).sum() > 500
    assert images["all"].shape[1] > 1.8 * images["s1"].shape[1]  # one panel per step


def test_png_view_changes_the_picture(run_file, tmp_path):
    from PIL import Image

    images = {}
    for view in ("palm", "top"):
        out = tmp_path / f"{view}.png"
        result = _run("show", run_file, "--sequence", 0, "--step", 1, "--view", view,
                      "--out", out)
        assert result.exit_code == 0, result.output
        assert f"{view} view" in result.output
        images[view] = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert (np.abs(images["palm"] - images["top"]).sum(-1) > 30).sum() > 2000


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("args, expected", [
    (("--sequence", 9, "--out", "x.html"), "has no sequence 9"),
    (("--sequence", 0, "--step", 5, "--out", "x.png"), "has steps 1…2, not 5"),
    (("--sequence", 0, "--out", "x.pdf"), "use --out FILE.html or FILE.png"),
])
def test_bad_requests_are_one_line_and_write_nothing(run_file, tmp_path, args, expected):
    args = [tmp_path / a if isinstance(a, str) and a.startswith("x.") else a for a in args]
    result = _run("show", run_file, *args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], result.output
    assert list(tmp_path.iterdir()) == []


def test_moved_meshes_need_objects_dir(run_file, mesh_dir, tmp_path):
    from seqgrasp_core.runs.runfile import read_run, write_run

    table, metadata = read_run(run_file)
    for entry in metadata["objects"]:
        entry["source"] = str(tmp_path / "gone" / f"{entry['object_id']}.obj")
    moved = tmp_path / "moved.parquet"
    write_run(moved, table, {k: v for k, v in metadata.items() if k != "format_version"})
    out = tmp_path / "m.png"
    result = _run("show", moved, "--sequence", 0, "--step", 1, "--out", out)
    assert result.exit_code == 2 and "--objects" in result.output and not out.exists()
    result = _run("show", moved, "--sequence", 0, "--step", 1, "--out", out,
                  "--objects", mesh_dir)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000


def doc_examples(command: str) -> list[list[str]]:
    """The ``seqgrasp <command>`` lines of docs/show-and-replay.md's console blocks."""
    import shlex
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "show-and-replay.md"
    blocks = re.findall(r"```console\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    return [shlex.split(line)[1:] for block in blocks for line in block.splitlines()
            if line.startswith(f"seqgrasp {command} ")]


def test_doc_examples_of_show_run(run_file, tmp_path, monkeypatch):
    examples = doc_examples("show")
    assert len(examples) == 4
    monkeypatch.chdir(tmp_path)
    for args in examples:
        args = [str(run_file) if a == "run.parquet" else a for a in args]
        result = _run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert (tmp_path / args[args.index("--out") + 1]).stat().st_size > 1000
