"""Data-parallel CGaP training under ``torchrun`` (PyTorch DDP), with identical grow/prune decisions on every rank.

:func:`from_env` reads torchrun's ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (plus ``MASTER_ADDR``/``MASTER_PORT``)
and joins the process group (NCCL on GPUs, gloo on CPU); without torchrun (or with one process) it returns a
:class:`Replicas` of world size 1 whose every method is the identity, so the single-process loop is unchanged.

What is kept identical across ranks, and how:

- **initial weights**: every rank builds the model under the same seed, and each :meth:`Replicas.wrap`
  (``DistributedDataParallel``) broadcasts rank 0's parameters and buffers;
- **data**: a ``DistributedSampler`` (``set_epoch`` per epoch) gives each rank its own shard of the epoch's
  permutation; ``--batch-size`` is per rank (the global batch is ``world × batch``);
- **gradients**: averaged by DDP in backward, so the optimizer steps (and momentum) agree bit for bit;
- **saliency**: the per-unit scores are all-reduced (averaged) before every grow/prune decision, and the
  resulting unit maps are verified identical on all ranks (a SHA-256 of the maps is all-gathered; any
  difference stops every rank with one error);
- **after a structural change** the model is rebuilt by surgery on every rank, the optimizer rebuilt with its
  state carried, and the new module wrapped in a fresh DDP (which re-broadcasts rank 0's tensors);
- **BatchNorm running statistics**: rank 0's are authoritative (DDP's ``broadcast_buffers``) and are broadcast
  again before every evaluation, so all ranks evaluate and checkpoint the same model;
- **metrics**: the training loss is averaged over ranks each step; validation and test are sharded over the
  ranks and their correct/total counts all-reduced;
- **checks**: at every epoch end the SHA-256 of each rank's weights is all-gathered and compared.

Only rank 0 writes files.  A rank that dies or stalls makes the others fail at their next collective (at once
when the connection drops, else after ``--dist-timeout`` seconds); the CLI reports it in one line.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import signal
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from cgap_ir.errors import CgapError

T = TypeVar("T")
BACKENDS = ("auto", "gloo", "nccl")
DEFAULT_TIMEOUT_S = 300.0
FAULT_ENV = "CGAP_TEST_DDP_FAULT"  # test-only fault injection: "RANK:STEP:exit" or "RANK:STEP:stop"


def state_digest(model: torch.nn.Module) -> str:
    """Return the SHA-256 (hex) of ``model``'s state dict: sorted names, dtypes, shapes and raw bytes."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def maps_digest(maps: dict) -> str:
    """Return the SHA-256 (hex) of a structural decision ``{group: UnitMap}``."""
    h = hashlib.sha256()
    for name, m in sorted(maps.items()):
        h.update(f"{name}|{m.width}|".encode())
        h.update(m.src.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def comm_failure(exc: BaseException) -> bool:
    """Return whether ``exc`` is a collective-communication failure (a peer died, stalled or was unreachable)."""
    if isinstance(exc, dist.DistError) or _raised_by_collective(exc):
        return True
    return bool(re.search(r"gloo|nccl|ProcessGroup|Connection (reset|closed)|pair closure|timed? ?out",
                          str(exc), re.IGNORECASE))


def _raised_by_collective(exc: BaseException) -> bool:
    """Return whether the innermost Python frame of ``exc`` is torch.distributed or DDP's wrapper.

    Gloo reports the same lost peer in several words ("Timed out waiting", "Application timeout caused
    pair closure", "Connection closed by peer") depending on which collective noticed it; where it was
    raised is steadier than what it says.
    """
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
    return "/torch/distributed/" in path or path.endswith("/torch/nn/parallel/distributed.py")


def first_sentence(text: str) -> str:
    """Return the first line of ``text`` without a leading ``[file.cc:123]`` tag, cut at its first sentence."""
    line = (text.strip().splitlines() or [""])[0]
    line = re.sub(r"^\[[^\]]*\]\s*", "", line)
    return line.split(". ")[0].rstrip(".")[:200]


class Replicas:
    """The training processes of one run.  World size 1 (the default) is a single process: no communication."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0, backend: str | None = None,
                 device: torch.device | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.backend, self.device, self.timeout_s = backend, device, timeout_s
        self._fault = _parse_fault(os.environ.get(FAULT_ENV), rank) if world > 1 else None

    @property
    def is_main(self) -> bool:
        """Return whether this is rank 0, the only rank that writes files and shows progress."""
        return self.rank == 0

    def describe(self) -> dict | None:
        """Return the plain facts recorded in history.json (None for a single process)."""
        if self.world == 1:
            return None
        return {"world_size": self.world, "backend": self.backend}

    # ------------------------------------------------------------------------------------------ model
    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """Return the module to run training forwards through: ``model`` itself, or a fresh DDP around it.

        The DDP constructor broadcasts rank 0's parameters and buffers and checks that all ranks' parameter
        shapes agree, so call it again after every structural change (the old wrapper is dropped).
        """
        if self.world == 1:
            return model
        ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)  # buffers: rank 0 broadcasts

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Broadcast rank 0's buffers (BatchNorm running statistics), which each rank's last step updated alone."""
        if self.world > 1:
            with torch.no_grad():
                for b in model.buffers():
                    dist.broadcast(b, 0)

    # ------------------------------------------------------------------------------------------ data
    def sampler(self, n: int, seed: int) -> DistributedSampler | None:
        """Return the DistributedSampler of an ``n``-sample training split (None for a single process)."""
        if self.world == 1:
            return None
        return DistributedSampler(range(n), num_replicas=self.world, rank=self.rank, shuffle=True, seed=seed,
                                  drop_last=False)

    def shard(self, data: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return this rank's strided share of an evaluation split (all of it for a single process)."""
        if self.world == 1:
            return data
        return data[0][self.rank::self.world], data[1][self.rank::self.world]

    # ------------------------------------------------------------------------------------------ reductions
    def mean(self, value: torch.Tensor) -> float:
        """Return the mean of a scalar tensor over the ranks, as a float (NaN anywhere gives NaN everywhere)."""
        if self.world == 1:
            return float(value)
        t = value.detach().to(self.device, torch.float64).reshape(1)
        dist.all_reduce(t)
        return float(t) / self.world

    def sum_counts(self, *counts: int) -> tuple[int, ...]:
        """Return integer counts summed over the ranks."""
        if self.world == 1:
            return counts
        t = torch.tensor(counts, dtype=torch.int64, device=self.device)
        dist.all_reduce(t)
        return tuple(int(v) for v in t.tolist())

    def average_scores(self, scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return per-unit saliency averaged over the ranks (one all-reduce of all groups, sorted by name)."""
        if self.world == 1 or not scores:
            return scores
        names = sorted(scores)
        flat = torch.cat([scores[g].reshape(-1).double() for g in names]).to(self.device)
        dist.all_reduce(flat)
        flat = (flat / self.world).cpu()
        out, i = {}, 0
        for g in names:
            n = scores[g].numel()
            out[g] = flat[i:i + n].to(scores[g].dtype).reshape(scores[g].shape)
            i += n
        return out

    # ------------------------------------------------------------------------------------------ checks
    def check_same(self, digest: str, what: str) -> list[str]:
        """All-gather a hex digest; raise CgapError on every rank unless all ranks agree; return the digests."""
        if self.world == 1:
            return [digest]
        mine = torch.tensor(list(bytes.fromhex(digest)), dtype=torch.uint8, device=self.device)
        got = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(got, mine)
        hexes = [bytes(t.cpu().tolist()).hex() for t in got]
        bad = [r for r, h in enumerate(hexes) if h != hexes[0]]
        if bad:
            raise CgapError(f"{what} differs across ranks (ranks {bad} disagree with rank 0): the replicas "
                            f"diverged; stopped rather than train inconsistent copies")
        return hexes

    def agree(self, fn: Callable[[], T], main_only: bool = False) -> T | None:
        """Run ``fn`` (on rank 0 only, or on every rank); if it raised CgapError on any rank, raise it on all.

        Keeps a user error found by one rank (a non-empty --out, a missing state file) from leaving the
        other ranks waiting at their next collective.  Returns ``fn``'s result (None where it did not run).
        """
        if self.world == 1:
            return fn()
        err, result = None, None
        if self.is_main or not main_only:
            try:
                result = fn()
            except CgapError as exc:
                err = str(exc)
        errors: list[str | None] = [None] * self.world
        dist.all_gather_object(errors, err)
        for r, msg in enumerate(errors):
            if msg:
                raise CgapError(msg if r == self.rank else f"rank {r}: {msg}")
        return result

    def fault_point(self, step: int) -> None:
        """Test-only: make this rank exit or stop at ``step`` when ``CGAP_TEST_DDP_FAULT`` asks for it."""
        if self._fault is not None and self._fault[0] == step:
            if self._fault[1] == "exit":
                os._exit(1)
            os.kill(os.getpid(), signal.SIGSTOP)  # a stalled rank: the others must time out

    def barrier(self) -> None:
        """Wait for every rank (e.g. for rank 0's final files before the processes exit)."""
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group (no-op for a single process)."""
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def lost_contact(self, exc: BaseException) -> CgapError:
        """Return the one-line error for a failed collective."""
        return CgapError(f"rank {self.rank} of {self.world}: lost contact with the other ranks (one died, or "
                         f"stalled longer than --dist-timeout {self.timeout_s:g} s): {first_sentence(str(exc))}")


def _parse_fault(spec: str | None, rank: int) -> tuple[int, str] | None:
    if not spec:
        return None
    try:
        r, step, action = spec.split(":")
        if action not in ("exit", "stop"):
            raise ValueError(action)
        return (int(step), action) if int(r) == rank else None
    except ValueError:
        raise CgapError(f"{FAULT_ENV}={spec!r}: expected RANK:STEP:exit or RANK:STEP:stop") from None


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except KeyError:
        raise CgapError(f"WORLD_SIZE is set but {name} is not: launch with torchrun (or set both)") from None
    except ValueError:
        raise CgapError(f"{name}={os.environ[name]!r} is not an integer") from None


def from_env(device: str = "auto", backend: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> Replicas:
    """Return the replicas of this run: join torchrun's process group when ``WORLD_SIZE`` > 1, else world 1.

    ``device`` is ``--device`` (auto/cpu/cuda): with CUDA each rank takes ``cuda:LOCAL_RANK``.  ``backend``
    auto = nccl on CUDA, gloo on CPU.  Raises CgapError (one line) when the group cannot be joined.
    """
    if backend not in BACKENDS:
        raise CgapError(f"--dist-backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not timeout_s > 0:
        raise CgapError("--dist-timeout must be positive")
    world = _env_int("WORLD_SIZE") if os.environ.get("WORLD_SIZE", "").strip() else 1
    if world <= 1:
        return Replicas(timeout_s=timeout_s)
    rank = _env_int("RANK")
    local = _env_int("LOCAL_RANK") if os.environ.get("LOCAL_RANK") else 0
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise CgapError("--device cuda: no CUDA device is available")
        if local >= torch.cuda.device_count():
            raise CgapError(f"LOCAL_RANK {local} but this node has {torch.cuda.device_count()} CUDA device(s): "
                            f"use --nproc_per_node at most the GPU count")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    chosen = backend if backend != "auto" else ("nccl" if cuda else "gloo")
    if chosen == "nccl" and not cuda:
        raise CgapError("--dist-backend nccl needs CUDA devices (use gloo on CPU)")
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group(chosen, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s),
                                **({"device_id": dev} if chosen == "nccl" else {}))
    except (RuntimeError, ValueError) as exc:
        raise CgapError(f"rank {rank} of {world}: cannot join the {chosen} process group at {where}: "
                        f"{first_sentence(str(exc))}") from None
    return Replicas(rank, world, local, chosen, dev, timeout_s)
