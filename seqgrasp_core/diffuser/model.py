"""A trained SeqDiffuser: the denoiser with everything needed to use it, in one file.

The model file (``torch.save`` of plain types, read with ``weights_only=True``)
records the hand and its opposition spaces, the BPS basis, the normalisation, the
noise schedule, the network's size and the dataset it was trained on; a model is
refused for any other hand.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from seqgrasp_core.diffuser.bps import bps_encode
from seqgrasp_core.diffuser.layout import GraspLayout, Normalizer
from seqgrasp_core.diffuser.network import Denoiser, NetworkConfig
from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.system.outputs import atomic_write_bytes

FORMAT = "seqgrasp-diffuser"
FORMAT_VERSION = 1
SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
            "prediction_type": "epsilon"}
"""The DDPM noise schedule (``diffusers``' scheduler config) models are trained with."""
SOLVERS = ("dpm++", "ddim")
X0_RANGE = 5.0
"""Where a sampled grasp's normalised entries may lie: ±5 training standard deviations."""
SURFACE_SAMPLES = 2048
"""Farthest-point samples of an object's surface its BPS feature is computed from."""


class ModelFileError(SeqGraspError):
    """A model file that is missing, unreadable or for another hand."""


@dataclass
class SeqDiffuser:
    """The denoiser ``network`` and what it needs: the hand's ``layout``, the
    ``normalizer`` of ``g̃``, the BPS ``basis`` ``(N, 3)`` (m), and a ``record`` of
    where the model came from (dataset, training)."""

    hand: str
    layout: GraspLayout
    network: Denoiser
    normalizer: Normalizer
    basis: torch.Tensor
    record: dict = field(default_factory=dict)

    @classmethod
    def create(cls, hand: str, layout: GraspLayout, normalizer: Normalizer,
               basis: torch.Tensor, config: NetworkConfig, record: dict | None = None
               ) -> "SeqDiffuser":
        return cls(hand, layout, Denoiser(config, basis), normalizer, basis, record or {})

    # --- the object -----------------------------------------------------------------
    @staticmethod
    def centre(surface: torch.Tensor) -> torch.Tensor:
        """``(..., 3)`` the bounding-box centre of ``surface`` ``(..., P, 3)``: the
        origin of the BPS and of the model's positions."""
        return 0.5 * (surface.amax(-2) + surface.amin(-2))

    def features(self, surface: torch.Tensor) -> torch.Tensor:
        """BPS features ``(..., N, 4)`` of object surfaces ``(..., P, 3)`` (m)."""
        centred = surface - self.centre(surface).unsqueeze(-2)
        return bps_encode(centred, self.basis.to(surface))

    # --- sampling -------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, surface: torch.Tensor, os_index: torch.Tensor, joints: torch.Tensor,
               joint_mask: torch.Tensor, generator: torch.Generator, steps: int = 10,
               solver: str = "dpm++") -> torch.Tensor:
        """Grasps ``(B, 9+K)`` (``[p (m), r (6D), θ (rad)]`` in the object's frame) of
        one object with surface samples ``surface`` ``(P, 3)`` (m).

        Each row uses opposition space ``os_index`` ``(B,)`` and may move only the
        joints ``joint_mask`` ``(B, K)``; the others keep ``joints`` ``(B, K)``
        bit for bit. ``steps`` denoising steps of ``solver`` (DPM-Solver++ or DDIM)
        from noise drawn with ``generator`` (CPU).
        """
        scheduler = make_solver(solver)
        with warnings.catch_warnings():  # diffusers' own use of numpy's copy= (harmless)
            warnings.simplefilter("ignore", DeprecationWarning)
            scheduler.set_timesteps(steps)
        device = next(self.network.parameters()).device
        surface = surface.to(device, torch.float32)
        centre = self.centre(surface)
        tokens = self.network.encode_object(self.features(surface)[None])
        b = os_index.shape[0]
        base = torch.zeros(b, 9, device=device)
        cond = self.normalizer(self.layout.assemble(os_index.to(device), base,
                                                    joints.to(device, torch.float32)))
        k = self.layout.selection(joint_mask.cpu()).to(device).bool()
        noise = torch.randn(cond.shape, generator=generator).to(device)
        x = torch.where(k, noise * scheduler.init_noise_sigma, cond)
        os_dev, k_values = os_index.to(device), k.float()
        alphas = scheduler.alphas_cumprod.to(device)
        for t in scheduler.timesteps:
            eps = self.network(x, k_values, t.expand(b).to(device), tokens, os_dev)
            eps = _clipped_noise(eps, x, alphas[t])
            x = torch.where(k, scheduler.step(eps, t, x).prev_sample, cond)
        g = self.normalizer.inverse(x)
        base = g[:, self.layout.base]
        pose = torch.cat((base[:, :3] + centre, base[:, 3:]), dim=1).to(joints.dtype)
        angles = g[:, self.layout.angles].to(joints.dtype)
        joints = joints.to(device)
        out = torch.cat((pose, torch.where(joint_mask.to(device), angles, joints)), dim=1)
        return out

    # --- files ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model file atomically."""
        state = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "hand": self.hand,
            "spaces": list(self.layout.spaces), "joints": self.layout.joints,
            "network": asdict(self.network.config),
            "weights": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "mean": self.normalizer.mean.cpu(), "std": self.normalizer.std.cpu(),
            "basis": self.basis.cpu(), "schedule": dict(SCHEDULE), "record": self.record,
        }
        atomic_write_bytes(Path(path), lambda tmp: torch.save(state, tmp))

    @classmethod
    def load(cls, path: str | Path, hand: str | None = None, device: str = "cpu"
             ) -> "SeqDiffuser":
        """Read a model file; :class:`ModelFileError` if it is not one, or (given
        ``hand``) if it was trained for another hand."""
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"model file {path} not found",
                                 "train one with `seqgrasp diffuser train`, or leave out "
                                 "--model to use the bundled one")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.get("format") != FORMAT:
                raise ValueError
        except Exception:
            raise ModelFileError(f"{path} is not a SeqDiffuser model file",
                                 "give a file written by `seqgrasp diffuser train`") from None
        if hand is not None and state["hand"] != hand:
            raise ModelFileError(f"{path} is a model for the {state['hand']!r} hand, "
                                 f"not {hand!r}",
                                 f"use --hand {state['hand']} or a model trained for {hand!r}")
        config = NetworkConfig(**state["network"])
        model = cls.create(state["hand"], GraspLayout(tuple(state["spaces"]), state["joints"]),
                           Normalizer(state["mean"], state["std"]), state["basis"], config,
                           state.get("record", {}))
        model.network.load_state_dict(state["weights"])
        model.record["file"] = path.name
        model.network.to(device).eval()
        return model

    def check_hand(self, spaces: list[str], joints: int) -> None:
        """:class:`ModelFileError` unless the hand's opposition spaces and joint count
        are the model's."""
        if list(self.layout.spaces) != list(spaces) or self.layout.joints != joints:
            raise ModelFileError(
                f"the model's hand {self.hand!r} had opposition spaces "
                f"{', '.join(self.layout.spaces)} and {self.layout.joints} joints; this one "
                f"has {', '.join(spaces)} and {joints}",
                "retrain the model for this hand (`seqgrasp diffuser train`)")


def _clipped_noise(eps: torch.Tensor, x: torch.Tensor, alpha_bar: torch.Tensor
                   ) -> torch.Tensor:
    """The noise ``eps`` ``(B, D)`` predicted at ``x`` ``(B, D)``, changed so that the
    clean grasp it implies lies within ±:data:`X0_RANGE` (normalised units).

    Early in sampling ``ᾱ_t`` is near 0 and ``x̂_0 = (x − √(1−ᾱ) ε) / √ᾱ`` multiplies
    any error in ``ε`` by up to 1/√ᾱ; clipping ``x̂_0`` (as DDPM's ``clip_sample``
    does) keeps one bad early step from throwing the sample metres away."""
    a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    x0 = ((x - s * eps) / a).clamp(-X0_RANGE, X0_RANGE)
    return (x - a * x0) / s


def make_solver(solver: str):
    """A ``diffusers`` scheduler for sampling: DPM-Solver++ (2nd order) or DDIM."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if solver == "dpm++":
        return DPMSolverMultistepScheduler(**SCHEDULE, algorithm_type="dpmsolver++",
                                           solver_order=2, lambda_min_clipped=-5.1)
    if solver == "ddim":
        return DDIMScheduler(**SCHEDULE, clip_sample=False)
    from seqgrasp_core.errors import UnknownNameError

    raise UnknownNameError(f"unknown solver {solver!r}", f"choose one of: {', '.join(SOLVERS)}")


def training_schedule():
    """The DDPM scheduler that noises training grasps."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE, clip_sample=False)
