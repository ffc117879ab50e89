"""The MANO human hand plugin.

By default the hand is the kinematic MANO hand shipped here (``hand.toml``,
``contacts.json``, ``mano_right.urdf``: joint positions of the mean MANO shape, capsule
geometry). When ``SEQGRASP_MANO_MODEL`` names the user's MANO model folder (or
``MANO_RIGHT.pkl``; or ``seqgrasp generate --hand mano -o model=PATH``), the hand is
rebuilt from that model through ``smplx`` (the optional extra ``seqgrasp[mano]``;
without it, one line names the pip command): a URDF with the model's own rest joints and
fingertips, the MANO mesh's vertices as the hand's surface points (each on the link
of its largest skinning weight), and the contact candidates moved onto the nearest
mesh vertex of their link, with the mesh's inward normal. See README.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

from seqgrasp_core.api import ContactGroup, HandSpec, hookimpl

HAND_FILE = Path(str(files(__name__) / "hand.toml"))
RULES_FILE = Path(str(files(__name__) / "contact_rules.toml"))
MODEL_ENV = "SEQGRASP_MANO_MODEL"


class ManoHand(HandSpec):
    """The MANO hand; ``-o model=PATH`` (or ``SEQGRASP_MANO_MODEL``) puts it on the
    user's MANO model."""

    options = {"model": "your MANO model folder or MANO_RIGHT.pkl (needs smplx)"}

    def configured(self, options) -> HandSpec:
        super().configured(options)
        model = options.get("model")
        return real_mano_spec(self, model) if model else self


@hookimpl
def register_hands(register):
    spec = ManoHand.from_files(HAND_FILE)
    model = os.environ.get(MODEL_ENV)
    register(real_mano_spec(spec, model) if model else spec)


def real_mano_spec(spec: HandSpec, model: str | Path) -> HandSpec:
    """``spec`` rebuilt on the user's MANO model (see the module docstring)."""
    from scipy.spatial import cKDTree

    from seqgrasp_core.api import atomic_write_bytes, cache_dir, load_rules, sample_contacts

    from .model import build_urdf, load_mano_surface, mesh_tips, surface_in_link_frames

    surface = load_mano_surface(model)
    folder = cache_dir("mano") / surface["digest"]
    urdf = folder / "mano_right.urdf"
    if not urdf.is_file():
        text = build_urdf(surface["joints"], mesh_tips(surface)).encode()
        atomic_write_bytes(urdf, lambda p: p.write_bytes(text))
    contacts_file = folder / "contacts.json"
    if contacts_file.is_file():
        groups = json.loads(contacts_file.read_text())
    else:
        rules, spacing = load_rules(RULES_FILE)
        groups = sample_contacts(urdf, rules, spacing or 0.004)
        data = json.dumps(groups).encode()
        atomic_write_bytes(contacts_file, lambda p: p.write_bytes(data))
    local, links = surface_in_link_frames(surface)
    link_arr = np.asarray(links)
    inward = -surface["normals"]
    snapped = {}
    for name, entries in groups.items():
        pts, nrm, lks, seen = [], [], [], set()
        for link in dict.fromkeys(e["link"] for e in entries):
            on_link = np.flatnonzero(link_arr == link)
            if len(on_link) == 0:
                continue
            tree = cKDTree(local[on_link])
            query = np.array([e["point"] for e in entries if e["link"] == link])
            for i in tree.query(query)[1]:
                v = int(on_link[i])
                if v not in seen:
                    seen.add(v)
                    pts.append(local[v])
                    nrm.append(inward[v] / np.linalg.norm(inward[v]))
                    lks.append(link)
        if lks:
            snapped[name] = ContactGroup(name, tuple(lks), np.array(pts), np.array(nrm))
    return dataclasses.replace(
        spec, urdf_path=urdf, contact_groups=snapped,
        surface_points=min(spec.surface_points, len(local)),
        surface_samples=(local, links),
        description=spec.description.split(";")[0] + f"; real MANO surface ({Path(model).name})",
        extra={**spec.extra, "mano_model": str(model)})
