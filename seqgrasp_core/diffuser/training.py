"""Training SeqDiffuser on a SeqDataset folder (``seqgrasp diffuser train``).

The grasps of the folder's train split (the manifest's split by object: no test
object is ever read) are noised where ``k`` is 1 with the DDPM schedule, and the
denoiser learns the noise with eq. 15's masked loss; an exponential moving average
of its weights (``ema-pytorch``) is what the model file keeps. Each object is seen
in ``rotations`` orientations (its surface and its grasps rotated together), so a
few hundred objects teach more than their own frames.

Training checkpoints after every epoch (atomically, next to the output); the same
command resumes from the checkpoint after an interruption.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import torch

from seqgrasp_core.diffuser.bps import basis_points
from seqgrasp_core.diffuser.layout import GraspLayout, Normalizer
from seqgrasp_core.diffuser.model import SeqDiffuser, training_schedule
from seqgrasp_core.diffuser.network import NetworkConfig
from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.geometry.pose import matrix_to_rot6d, rot6d_to_matrix
from seqgrasp_core.system.outputs import atomic_write_bytes

BPS_RADIUS = 0.1  # m: the basis ball holds any object of the paper's 0.06–0.10 m


@dataclass(frozen=True)
class TrainConfig:
    """``seqgrasp diffuser train``'s settings."""

    epochs: int = 200
    batch: int = 256
    lr: float = 5e-4
    weight_decay: float = 1e-4
    ema_beta: float = 0.999
    rotations: int = 8  # orientations per object (the first: as in its file)
    grasps_per_object: int = 8  # rows of one object orientation side by side in a batch
    seed: int = 0
    basis: int = 512
    width: int = 128
    depth: int = 3
    os_encoding: str = "onehot"


@dataclass
class GraspData:
    """Grasp steps as training tensors: ``x`` ``(R, N, D)`` the raw ``g̃`` of each row
    in each of ``R`` orientations, ``k`` ``(N, D)``, ``os_index`` ``(N,)``, ``item``
    ``(N,)`` the row's object (index into ``surfaces``) and ``surfaces``
    ``(O, R, P, 3)`` (m) each object's samples in the same orientations."""

    x: torch.Tensor
    k: torch.Tensor
    os_index: torch.Tensor
    item: torch.Tensor
    surfaces: torch.Tensor
    objects: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.k.shape[0]


def rotations(count: int, seed: int) -> torch.Tensor:
    """``(count, 3, 3)`` rotations, the identity first, the others uniform (seeded)."""
    from scipy.spatial.transform import Rotation

    rest = Rotation.random(count - 1, random_state=seed).as_matrix() if count > 1 else []
    return torch.as_tensor(np.concatenate([np.eye(3)[None], np.reshape(rest, (-1, 3, 3))]),
                           dtype=torch.float64)


def load_split(root: Path, split: str, spaces: tuple[str, ...], joints: int,
               turns: torch.Tensor) -> GraspData:
    """The grasp steps of ``split`` in the dataset folder ``root``, in the
    orientations ``turns`` ``(R, 3, 3)``."""
    root = Path(root)
    try:
        objects = pq.read_table(root / "objects.parquet").to_pylist()
    except Exception:
        raise SeqGraspError(f"{root} has no readable objects.parquet",
                            "give a folder built by `seqgrasp dataset build`") from None
    allowed = {o["object_id"]: o for o in objects if o["split"] == split}
    try:
        table = ds.dataset(root / "data", format="parquet").to_table(
            columns=["object_id", "os_name", "pose", "joints", "joint_mask", "split"])
    except Exception as exc:
        raise SeqGraspError(f"{root}/data holds no readable shards ({exc})",
                            "build the dataset first, or resume its build") from None
    keep = [s == split and o in allowed for s, o in zip(table.column("split").to_pylist(),
                                                        table.column("object_id").to_pylist())]
    table = table.filter(keep)
    if table.num_rows == 0:
        raise SeqGraspError(f"{root} has no {split} grasps", "build more units")
    names = table.column("os_name").to_pylist()
    unknown = sorted(set(names) - set(spaces))
    if unknown:
        raise SeqGraspError(f"{root} uses opposition spaces the hand lacks: {unknown}",
                            "train for the hand the dataset was built with")
    ids = sorted(set(table.column("object_id").to_pylist()))
    position = {o: i for i, o in enumerate(ids)}
    item = torch.tensor([position[o] for o in table.column("object_id").to_pylist()])
    os_index = torch.tensor([spaces.index(n) for n in names])
    pose = torch.tensor(np.stack(table.column("pose").to_numpy(zero_copy_only=False)),
                        dtype=torch.float64)
    angles = torch.tensor(np.stack(table.column("joints").to_numpy(zero_copy_only=False)),
                          dtype=torch.float64)
    mask = torch.tensor(np.stack(table.column("joint_mask").to_numpy(zero_copy_only=False)))
    if angles.shape[1] != joints:
        raise SeqGraspError(f"{root} holds grasps of a {angles.shape[1]}-joint hand, not "
                            f"{joints}", "train for the hand the dataset was built with")
    surface = torch.stack([torch.tensor(np.asarray(allowed[o]["surface"]), dtype=torch.float64)
                           .reshape(-1, 3) for o in ids])  # (O, P, 3)
    turned = torch.einsum("rij,opj->orpi", turns, surface)  # (O, R, P, 3)
    centres = SeqDiffuser.centre(turned)  # (O, R, 3)
    layout = GraspLayout(spaces, joints)
    frames = rot6d_to_matrix(pose[:, 3:9])  # (N, 3, 3)
    xs = []
    for r, turn in enumerate(turns):
        p = pose[:, :3] @ turn.T - centres[item, r]
        rot = matrix_to_rot6d(turn @ frames)
        xs.append(layout.assemble(os_index, torch.cat((p, rot), dim=1), angles))
    return GraspData(torch.stack(xs).float(), layout.selection(mask), os_index, item,
                     turned.float(), ids)


Progress = Callable[[int, int, float], None]
"""``progress(epoch, epochs, mean loss of the epoch)``."""


@dataclass
class TrainingSet:
    """A fresh model and the tensors training feeds it: ``features`` ``(O·R, N, 4)``
    the BPS code of each object orientation (row ``item · R + r``), ``x`` ``(R, N, D)``
    the normalised grasps in each orientation, ``k`` ``(N, D)``."""

    model: SeqDiffuser
    data: GraspData
    features: torch.Tensor
    x: torch.Tensor
    k: torch.Tensor

    def batch_loss(self, rows: torch.Tensor, turn: torch.Tensor, generator: torch.Generator,
                   schedule=None) -> torch.Tensor:
        """Eq. 15 on the rows ``rows`` ``(b,)`` in the orientations ``turn`` ``(b,)``."""
        data, turns = self.data, self.x.shape[0]
        return noise_loss(self.model.network, schedule or training_schedule(),
                          self.x[turn, rows], self.k[rows],
                          data.os_index[rows].to(self.x.device), self.features,
                          data.item[rows] * turns + turn, generator)


def prepare(root: Path, hand: str, spaces: tuple[str, ...], joints: int,
            config: TrainConfig = TrainConfig(), device: str = "cpu") -> TrainingSet:
    """The train split of the folder ``root`` and a new model for it (normalisation
    and BPS basis from ``config`` and the data), on ``device``."""
    torch.manual_seed(config.seed)
    turns = rotations(config.rotations, config.seed)
    data = load_split(root, "train", spaces, joints, turns)
    layout = GraspLayout(spaces, joints)
    normalizer = Normalizer.fit(layout, data.x.reshape(-1, layout.dim))
    basis = torch.as_tensor(basis_points(config.basis, BPS_RADIUS, config.seed))
    net_config = NetworkConfig(grasp_dim=layout.dim, num_spaces=len(spaces), basis=config.basis,
                               width=config.width, depth=config.depth,
                               os_encoding=config.os_encoding)
    record = {"dataset": _dataset_record(root, data), "training": asdict(config)}
    model = SeqDiffuser.create(hand, layout, normalizer, basis, net_config, record)
    model.network.to(device)
    surfaces = data.surfaces.reshape(-1, *data.surfaces.shape[2:])
    features = torch.cat([model.features(chunk.to(device))  # in chunks: cdist is P × N each
                          for chunk in surfaces.split(64)])
    return TrainingSet(model, data, features, normalizer(data.x).to(device), data.k.to(device))


def train(root: Path, out: Path, hand: str, spaces: tuple[str, ...], joints: int,
          config: TrainConfig = TrainConfig(), device: str = "cpu",
          progress: Progress | None = None) -> SeqDiffuser:
    """Train on the folder ``root``'s train split and write the model file ``out``.

    Resumes from ``out`` + ``.ckpt`` when it holds the same training; each epoch
    replaces that checkpoint atomically. Returns the model (EMA weights).
    """
    from ema_pytorch import EMA

    setup = prepare(root, hand, spaces, joints, config, device)
    model, data = setup.model, setup.data
    net = model.network
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    ema = EMA(net, beta=config.ema_beta, update_after_step=100, update_every=1)
    schedule = training_schedule()
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint = Path(str(out) + ".ckpt")
    start, losses = _resume(checkpoint, model.record, net, optimizer, ema, generator)
    for epoch in range(start, config.epochs):
        net.train()
        batches = object_batches(data.item, config.rotations, config.batch,
                                 config.grasps_per_object, generator)
        total = 0.0
        for rows, turn in batches:
            loss = setup.batch_loss(rows, turn, generator, schedule)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            ema.update()
            total += float(loss.detach())
        losses.append(total / len(batches))
        _checkpoint(checkpoint, model.record, epoch + 1, losses, net, optimizer, ema, generator)
        if progress:
            progress(epoch + 1, config.epochs, losses[-1])
    model.network = ema.ema_model.eval()
    model.record["training"]["losses"] = [round(v, 5) for v in losses]
    model.record["training"]["test loss"] = _test_loss(model, root, device, config)
    model.save(out)
    checkpoint.unlink(missing_ok=True)
    return model


def object_batches(item: torch.Tensor, turns: int, batch: int, group: int,
                   generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch's batches ``[(rows (b,), orientation (b,)), ...]``: every row of
    ``item`` ``(N,)`` (each row's object) exactly once, in chunks of up to ``group``
    rows of one object seen in one random orientation of ``turns``, ``batch // group``
    shuffled chunks per batch.

    The object encoder runs once per distinct object orientation in a batch and
    costs far more than the denoiser, so chunks make an update several times cheaper
    than rows drawn one by one; ``group`` 1 is plain row shuffling.
    """
    order = torch.randperm(len(item), generator=generator)
    order = order[torch.argsort(item[order], stable=True)]  # by object, random within
    runs = torch.split(order, torch.bincount(item[order]).tolist())
    chunks = [chunk for run in runs if len(run) for chunk in run.split(group)]
    chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator)]
    turn = torch.randint(0, turns, (len(chunks),), generator=generator)
    per_batch = max(1, batch // group)
    batches = []
    for start in range(0, len(chunks), per_batch):
        part = chunks[start:start + per_batch]
        rows = torch.cat(part)
        batches.append((rows, turn[start:start + per_batch].repeat_interleave(
            torch.tensor([len(c) for c in part]))))
    return batches


def noise_loss(net, schedule, x0: torch.Tensor, k: torch.Tensor, os_index: torch.Tensor,
               features: torch.Tensor, which: torch.Tensor, generator: torch.Generator
               ) -> torch.Tensor:
    """Eq. 15: the noise error where ``k`` is 1, for grasps ``x0`` ``(B, D)`` of the
    objects ``features[which]``."""
    t = torch.randint(0, schedule.config.num_train_timesteps, (x0.shape[0],),
                      generator=generator)
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    keep = k.bool()
    xt = torch.where(keep, schedule.add_noise(x0, noise, t.to(x0.device)), x0)
    unique, inverse = torch.unique(which, return_inverse=True)
    tokens = net.encode_object(features[unique.to(features.device)])[inverse.to(x0.device)]
    eps = net(xt, k, t.to(x0.device), tokens, os_index)
    return ((eps - noise) ** 2 * k).sum() / k.sum()


@torch.no_grad()
def _test_loss(model: SeqDiffuser, root: Path, device: str, config: TrainConfig
               ) -> float | None:
    """Eq. 15 on the test split's grasps as in their files (fixed noise), or None
    without any."""
    try:
        data = load_split(root, "test", model.layout.spaces, model.layout.joints,
                          rotations(1, config.seed))
    except SeqGraspError:
        return None
    net = model.network
    features = torch.cat([model.features(chunk.to(device))
                          for chunk in data.surfaces[:, 0].split(64)])
    x = model.normalizer(data.x[0]).to(device)
    generator = torch.Generator().manual_seed(config.seed + 1)
    total = sum(float(noise_loss(net, training_schedule(), x[i:i + 1024],
                                 data.k[i:i + 1024].to(device),
                                 data.os_index[i:i + 1024].to(device),
                                 features, data.item[i:i + 1024], generator))
                * len(x[i:i + 1024]) for i in range(0, data.rows, 1024))
    return round(total / data.rows, 5)


def _dataset_record(root: Path, data: GraspData) -> dict:
    manifest = {}
    try:
        manifest = json.loads((Path(root) / "manifest.json").read_text())
    except (OSError, ValueError):
        pass
    return {"folder": Path(root).name, "rows": data.rows, "objects": len(data.objects),
            "units": len(manifest.get("finished", [])), "settings": manifest.get("settings")}


def _resume_key(record: dict) -> str:
    """What a checkpoint must share to be resumed: all but ``epochs`` (a training
    can be extended by running it again with more)."""
    training = {k: v for k, v in record["training"].items() if k != "epochs"}
    return json.dumps({**record, "training": training}, sort_keys=True)


def _checkpoint(path: Path, record: dict, epoch: int, losses: list[float], net, optimizer,
                ema, generator: torch.Generator) -> None:
    state = {"record": _resume_key(record), "epoch": epoch, "losses": losses,
             "net": net.state_dict(), "optimizer": optimizer.state_dict(),
             "ema": ema.state_dict(), "generator": generator.get_state()}
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))


def _resume(path: Path, record: dict, net, optimizer, ema, generator: torch.Generator
            ) -> tuple[int, list[float]]:
    """``(first epoch to run, losses so far)``: from the checkpoint when it holds this
    training (same dataset and settings), else from the start."""
    if not path.is_file():
        return 0, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return 0, []  # a checkpoint that does not read is not resumed from
    if state.get("record") != _resume_key(record):
        raise SeqGraspError(f"{path} holds another training (other data or settings)",
                            "use the same settings to resume, or delete the checkpoint")
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    ema.load_state_dict(state["ema"])
    generator.set_state(state["generator"])
    return int(state["epoch"]), list(state["losses"])


__all__ = ["TrainConfig", "GraspData", "TrainingSet", "load_split", "noise_loss",
           "object_batches", "prepare", "rotations", "train"]
