"""The accelerator's latency of a zoo architecture as a function of its group widths, for hardware-aware CGaP.

Nothing here models the engine: :class:`LatencyModel` builds the torch-free IR of the architecture at the asked
widths (:func:`cgap.models.ir_build.zoo_network`) and runs the engine model on it in process
(:func:`fpga_model.engine_sim.simulate`, which schedules — fuses and tiles — with
:func:`fpga_model.schedule.schedule` and sums :func:`fpga_model.cost.layer_cycles`).  Whatever the engine model
says on the branch this runs on is what the training ranks by; results are memoised per width map, so the
per-group tables the ranking reads cost one simulation per new point (a few ms for a VGG-11 ×0.25).

Per group the latency is tile-quantised: the engine runs Pof output channels at once, so removing output
channels saves compute cycles only when ⌈Nof/Pof⌉ falls, while every input channel is one MAC-loop step.
:meth:`LatencyModel.table_points` therefore offers the ranking one-unit steps and every Pof multiple below
the current width.
"""

from __future__ import annotations

from collections.abc import Callable

from cgap.models.ir_build import zoo_network
from cgap_ir.errors import CgapError
from fpga_model.engine_sim import simulate
from fpga_model.hw import HwConfig, load_hw

Widths = dict[str, int]
CyclesFn = Callable[[Widths], float]

MEMO_LIMIT = 50_000  # width maps remembered per model (one int each)


class LatencyModel:
    """Simulated cycles per image of ``arch`` (``shape``, ``classes``) at any width map on ``hw``."""

    def __init__(self, arch: str, shape: tuple[int, int, int], classes: int, hw: HwConfig) -> None:
        self.arch, self.shape, self.classes, self.hw = arch, tuple(shape), classes, hw
        self._memo: dict[tuple[tuple[str, int], ...], int] = {}
        self.simulations = 0  # how many width maps were actually simulated (the rest came from the memo)

    @classmethod
    def from_spec(cls, arch: str, shape: tuple[int, int, int], classes: int, hw: str | None) -> LatencyModel:
        """Return the model on the HwConfig named by a preset or TOML path (None = the default preset)."""
        return cls(arch, shape, classes, load_hw(hw))

    @property
    def quantum(self) -> int:
        """Return the output-channel step of the engine's cost: Pof."""
        return self.hw.pof

    def report(self, widths: Widths) -> dict:
        """Return the simulator's network totals at ``widths`` (cycles, latency_us, energy_pj, DRAM bytes...)."""
        net = zoo_network(self.arch, self.shape, self.classes, widths=dict(widths))
        try:
            return simulate(net, self.hw).total()
        except CgapError as exc:
            raise CgapError(f"latency model ({self.hw.name}) at widths {dict(widths)}: {exc}") from None

    def cycles(self, widths: Widths) -> int:
        """Return the simulated cycles per image at ``widths`` (memoised)."""
        key = tuple(sorted(widths.items()))
        hit = self._memo.get(key)
        if hit is None:
            hit = int(self.report(widths)["cycles"])
            self.simulations += 1
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def latency_us(self, widths: Widths) -> float:
        """Return the simulated latency per image in microseconds at ``widths``."""
        return self.cycles(widths) / self.hw.clock_mhz

    def unit_cycles(self, widths: Widths, group: str, min_width: int = 1) -> float:
        """Return the cycles one unit of ``group`` costs at ``widths``: the mean saving per unit of removing
        one Pof quantum (or down to ``min_width``), 0 when nothing can go or nothing is saved."""
        width = widths[group]
        low = max(min_width, width - self.quantum)
        if low >= width:
            return 0.0
        saved = self.cycles(widths) - self.cycles({**widths, group: low})
        return max(0.0, saved / (width - low))

    def grow_unit_cycles(self, widths: Widths, group: str) -> float:
        """Return the cycles one more unit of ``group`` costs at ``widths``: the mean of adding one Pof quantum."""
        more = self.cycles({**widths, group: widths[group] + self.quantum}) - self.cycles(widths)
        return max(0.0, more / self.quantum)


def table_points(width: int, low: int, quantum: int) -> list[int]:
    """Return the widths below ``width`` (down to ``low``) a pruning chunk may stop at: one unit less, every
    multiple of ``quantum`` in between, and ``low``; highest first."""
    points = {width - 1, low} | set(range((width - 1) // quantum * quantum, low - 1, -quantum))
    return sorted((k for k in points if low <= k < width), reverse=True)


def latency_ranked_units(norm_scores: dict[str, list[float]], widths: Widths, min_width: Widths,
                         cycles: CyclesFn, quantum: int, limit: int) -> list[tuple[str, int]]:
    """Return (group, unit) pairs to remove, in order: cheapest saliency per simulated cycle saved first.

    ``norm_scores[g]`` holds group ``g``'s per-unit saliency (normalised; index = unit).  Greedy over chunks:
    for every group, removing its ``n`` least salient units costs the sum of their scores and saves
    ``T_g(w) - T_g(w - n)`` cycles, where ``T_g`` is ``cycles`` with only ``g`` changed from ``widths`` (the
    widths at the decision: one table per group, shared by every pick of this decision); chunks end at the
    points of :func:`table_points`.  The chunk with the lowest saliency per cycle saved goes next, until at
    least ``limit`` units are ranked; every other removable unit follows, least salient first (units whose
    removal saves no cycles come last this way).
    """
    order = {g: sorted(range(len(s)), key=lambda i, s=s: (s[i], i)) for g, s in norm_scores.items()}
    current = {g: widths[g] for g in norm_scores}
    gone = dict.fromkeys(norm_scores, 0)
    base = cycles(widths)

    def table(g: str, k: int) -> float:
        return base if k == widths[g] else cycles({**widths, g: k})

    ranked: list[tuple[str, int]] = []
    while len(ranked) < limit:
        best = None
        for g in norm_scores:
            w, low = current[g], min_width[g]
            here = table(g, w)
            for k in table_points(w, low, quantum):
                saved = here - table(g, k)
                if saved <= 0:
                    continue
                lost = sum(norm_scores[g][i] for i in order[g][gone[g]:gone[g] + w - k])
                key = (lost / saved, -saved, g)
                if best is None or key < best[0]:
                    best = (key, g, w - k)
        if best is None:
            break
        _, g, n = best
        ranked += [(g, i) for i in order[g][gone[g]:gone[g] + n]]
        gone[g] += n
        current[g] -= n
    rest = [(norm_scores[g][i], g, i) for g in norm_scores for i in order[g][gone[g]:widths[g] - min_width[g]]]
    return ranked + [(g, i) for _, g, i in sorted(rest)]


def aligned_widths(widths: Widths, quantum: int, min_width: Widths) -> Widths:
    """Return ``widths`` with every group above one quantum snapped down to a multiple of ``quantum`` (never
    below its minimum); groups already aligned or narrower than a quantum keep their width."""
    out = {}
    for g, w in widths.items():
        snapped = w // quantum * quantum
        out[g] = max(snapped, min_width[g]) if w > quantum and snapped < w else w
    return out
