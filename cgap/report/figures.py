"""Figures for the HTML report, drawn from the run's JSON and returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - backend chosen first


def _png(fig) -> bytes:  # noqa: ANN001 - matplotlib Figure
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def comparison_curves(histories: dict[str, dict]) -> bytes:
    """Return a PNG: validation accuracy, params and MACs over epochs, one line per run."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, hist in histories.items():
        epochs = hist.get("epochs", [])
        xs = [e["epoch"] for e in epochs]
        axes[0].plot(xs, [e["val_acc"] for e in epochs], marker=".", label=name)
        axes[1].plot(xs, [e["params"] / 1e3 for e in epochs], marker=".", label=name)
        axes[2].plot(xs, [e["macs"] / 1e6 for e in epochs], marker=".", label=name)
    for ax, title in zip(axes, ("validation accuracy (%)", "parameters (k)", "MACs per image (M)"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return _png(fig)


def width_heatmap(hist: dict) -> bytes:
    """Return a PNG heatmap of every group's width (relative to its own maximum) over epochs."""
    epochs = hist.get("epochs", [])
    groups = list(epochs[0]["widths"]) if epochs else []
    grid = [[e["widths"][g] for e in epochs] for g in groups]
    peak = [max(row) or 1 for row in grid]
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(groups) + 1.6))
    image = ax.imshow([[v / p for v in row] for row, p in zip(grid, peak, strict=True)], aspect="auto",
                      cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(groups)), [f"{g} (max {p})" for g, p in zip(groups, peak, strict=True)], fontsize=7)
    ax.set_xticks(range(len(epochs)), [str(e["epoch"]) for e in epochs], fontsize=7)
    ax.set_xlabel("epoch")
    ax.set_title("width per group (fraction of its peak): grow, then prune")
    fig.colorbar(image, ax=ax, fraction=0.03)
    return _png(fig)


def sim_bars(sim: dict) -> bytes:
    """Return a PNG with per-layer stacked latency (compute vs stall) and energy by component."""
    layers = sim["layers"]
    names = [r["name"] for r in layers]
    xs = range(len(layers))
    clock = float(sim.get("clock_mhz", 1.0))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 0.18 * len(layers) + 4), 6.5), sharex=True)
    compute = [r["compute_cycles"] / clock for r in layers]
    stall = [r["stall_cycles"] / clock for r in layers]
    top.bar(xs, compute, label="compute")
    top.bar(xs, stall, bottom=compute, label="stall (DRAM)")
    top.set_ylabel("latency (us)")
    top.legend()
    base = [0.0] * len(layers)
    parts = [k for k in layers[0]["energy_pj"] if k != "total"]
    for part in parts:
        vals = [r["energy_pj"][part] / 1e6 for r in layers]
        bottom.bar(xs, vals, bottom=base, label=part)
        base = [b + v for b, v in zip(base, vals, strict=True)]
    bottom.set_ylabel("energy (uJ)")
    bottom.legend(fontsize=7, ncol=4)
    bottom.set_xticks(list(xs), names, rotation=90, fontsize=6)
    top.set_title(f"{sim.get('network', '')} on {sim.get('hw', '')}: per-layer latency and energy")
    return _png(fig)


MARKERS = {"full": "s", "prune": "v", "scratch": "^", "uniform": "D", "cgap": "o", "cgap-latency": "*"}


def tradeoff_scatter(rows: list[dict]) -> bytes:
    """Return a PNG: test accuracy against simulated latency and against MACs, one point per run (every method
    and seed), the full model's mean accuracy as a dashed line and the Pareto front as a step line; one row of
    plots per arch."""
    from cgap.report.tradeoff import mean_std, pareto_front

    archs = list(dict.fromkeys(r["arch"] for r in rows))
    fig, axes = plt.subplots(len(archs), 2, figsize=(11, 3.8 * len(archs)), squeeze=False)
    for row_axes, arch in zip(axes, archs, strict=True):
        mine = [r for r in rows if r["arch"] == arch]
        full = [r["test_acc"] for r in mine if r["method"] == "full"]
        for ax, key, label in zip(row_axes, ("latency_us", "macs"), ("simulated latency (us/img)", "MACs per image"),
                                  strict=True):
            for method in dict.fromkeys(r["method"] for r in mine):
                pts = [r for r in mine if r["method"] == method]
                ax.scatter([r[key] for r in pts], [r["test_acc"] for r in pts], label=method,
                           marker=MARKERS.get(method, "o"), s=60 if method == "cgap-latency" else 30)
            front = [mine[i] for i in pareto_front([(r[key], r["test_acc"]) for r in mine])]
            ax.step([r[key] for r in front], [r["test_acc"] for r in front], where="post", color="k", lw=0.8,
                    alpha=0.6, label="Pareto front")
            if full:
                ax.axhline(mean_std(full)[0], color="gray", ls="--", lw=0.8, label="full (mean)")
            ax.set_xlabel(label)
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{arch}: accuracy vs {label.split(' (')[0]}")
            ax.grid(alpha=0.3)
        row_axes[0].legend(fontsize=7)
    return _png(fig)
