"""PNG plots of a run (matplotlib, Agg backend): widths over time, params/MACs and accuracy over epochs."""

from __future__ import annotations

from pathlib import Path

from cgap.atomic import atomic_path
from cgap.train.history import History


def _figure():  # noqa: ANN202 - matplotlib types
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mark_events(ax, hist: History, per_epoch: int) -> None:  # noqa: ANN001
    for e in hist.events:
        ax.axvline(e["step"] / per_epoch, color="tab:green" if e["kind"] == "grow" else "tab:red",
                   alpha=0.25, lw=0.8)


def _save(fig, path: Path) -> Path:  # noqa: ANN001
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def width_series(hist: History) -> tuple[list[float], list[dict[str, int]]]:
    """Return (x in epochs, widths) at every change: the initial model, each event, the last epoch."""
    per_epoch = max(1, hist.info.get("steps_per_epoch", 1))
    xs, ws = [0.0], [hist.epochs[0]["widths"]]
    for e in hist.events:
        xs.append(e["step"] / per_epoch)
        ws.append(e["widths"])
    xs.append(float(hist.epochs[-1]["epoch"]))
    ws.append(hist.epochs[-1]["widths"])
    return xs, ws


def plot_history(hist: History, out_dir: str | Path) -> list[Path]:
    """Write widths.png, cost.png and accuracy.png into ``out_dir``; return their paths."""
    plt = _figure()
    out_dir = Path(out_dir)
    ep = [e["epoch"] for e in hist.epochs]
    per_epoch = max(1, hist.info.get("steps_per_epoch", 1))
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs, ws = width_series(hist)
    for g in hist.epochs[0]["widths"]:
        ax.plot(xs, [w[g] for w in ws], drawstyle="steps-post", label=g)
    _mark_events(ax, hist, per_epoch)
    ax.set(xlabel="epoch", ylabel="units", title="width per coupled group (green: grow, red: prune)")
    ax.legend(fontsize=6, ncol=3)
    paths.append(_save(fig, out_dir / "widths.png"))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ep, [e["params"] for e in hist.epochs], marker=".", label="params")
    ax.plot(ep, [e["macs"] for e in hist.epochs], marker=".", label="forward MACs / sample")
    ax.set(xlabel="epoch", yscale="log", title="model size")
    ax.legend()
    paths.append(_save(fig, out_dir / "cost.png"))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ep, [e["val_acc"] for e in hist.epochs], marker=".", label="val accuracy")
    _mark_events(ax, hist, per_epoch)
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title="validation accuracy")
    ax.legend()
    paths.append(_save(fig, out_dir / "accuracy.png"))
    plt.close("all")
    return paths
