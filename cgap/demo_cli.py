"""`cgap demo`: the README's main job, end to end on a built-in dataset.

Each stage is an ordinary CLI command, run in order into one run directory::

    RUN/full/      cgap train --method full    (the full-width baseline)
    RUN/cgap/      cgap train --method cgap    (seed → grow → prune → fine-tune)
    RUN/uniform/   cgap train --method uniform --match RUN/cgap/model.pt --by latency --hw HW
                   (the full net uniformly narrowed to cgap's simulated latency: the baseline cgap must beat)
    RUN/hls/       cgap-export RUN/cgap/model.pt --target fpga --verify   (HLS project + g++ C-sim)
    RUN/sim/       the accelerator simulated for every model (cgap sim --json)
    RUN/summary.json, RUN/hw.toml, RUN/resources.json, RUN/report.html   (cgap report)

Fashion-MNIST comes from the Debian package; without it (and without --data-dir) the demo uses
scikit-learn's digits and says so.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cgap.atomic import refuse_non_empty, write_text_atomic
from cgap_ir.errors import CgapError
from fpga_model.table import format_table

PROFILES = {
    # name: (epochs, subset, verify images)
    "default": (15, 54000, 200),     # every training image; ~3.5 min of the ~5 min a fresh `make demo` takes
    "quick": (3, 600, 20),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser("demo", help="run the main job end to end on a built-in dataset",
                       description="train (full, cgap) → HLS export + C-sim → simulate → summary table + HTML report")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--arch", default="lenet5", help="zoo architecture (default lenet5)")
    p.add_argument("--dataset", default="auto", help="auto (Fashion-MNIST if installed, else digits), or a name")
    p.add_argument("--data-dir", help="dataset folder (overrides the default location)")
    p.add_argument("--hw", default="zcu102-16b", help="HwConfig preset or TOML file (default zcu102-16b)")
    p.add_argument("--profile", choices=PROFILES, default="default",
                   help="default: ~5 min on 2 cores; quick: a smoke run of the same stages")
    p.add_argument("--epochs", type=int, help="override the profile's epochs per training run")
    p.add_argument("--subset", type=int, help="override the profile's training-set size")
    p.add_argument("--force", action="store_true", help="reuse a non-empty run directory")


def pick_dataset(name: str, data_dir: str | None) -> str:
    """Return the dataset to use: 'auto' means Fashion-MNIST when its files exist, else digits (said aloud)."""
    if name != "auto":
        return name
    from cgap.data import FASHION_DEFAULT

    if data_dir or FASHION_DEFAULT.is_dir():
        return "fashion-mnist"
    print("note: Fashion-MNIST not found (apt-get install -y dataset-fashion-mnist); using scikit-learn's digits")
    return "digits"


def _stage(title: str, argv: list[str], entry) -> None:  # noqa: ANN001 - a main(argv) -> int function
    print(f"\n== {title}: {' '.join(argv)}", flush=True)
    status = entry(argv)
    if status != 0:
        raise CgapError(f"demo stage '{title}' failed (exit {status}); run it alone to see why")


def _train(run: Path, args: argparse.Namespace, dataset: str, method: str, epochs: int, subset: int,
           extra: tuple[str, ...] = ()) -> Path:
    from cgap.cli import main

    out = run / method
    argv = ["train", "--arch", args.arch, "--dataset", dataset, "--method", method, "--epochs", str(epochs),
            "--subset", str(subset), "--out", str(out), "--force", *extra]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    _stage(f"train {method}", argv, main)
    return out / "model.pt"


def _export(run: Path, args: argparse.Namespace, model: Path, images: int) -> dict:
    from cgap.export_cli import main as export_main

    argv = [str(model), "--target", "fpga", "--hw", args.hw, "--out", str(run / "hls"), "--verify",
            "--images", str(images), "--force"]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    _stage("export + C-sim", argv, export_main)
    return json.loads((run / "hls" / "verify.json").read_text())


def _simulate(run: Path, hw_spec: str, models: dict[str, Path]) -> dict[str, dict]:
    from cgap.frontend import load_network
    from fpga_model.engine_sim import simulate
    from fpga_model.geometry import network_geometry
    from fpga_model.hw import hw_to_toml, load_hw
    from fpga_model.report import to_dict
    from fpga_model.resource_lines import resource_dict

    print(f"\n== simulate on {hw_spec}", flush=True)
    hw = load_hw(hw_spec)
    sims = {name: to_dict(simulate(load_network(path), hw)) for name, path in models.items()}
    for name, doc in sims.items():
        write_text_atomic(run / "sim" / f"{name}.json", json.dumps(doc, indent=1))
    write_text_atomic(run / "hw.toml", hw_to_toml(hw))
    exported = network_geometry(load_network(models["cgap"]), hw)     # the model cgap-export wrote
    write_text_atomic(run / "resources.json", json.dumps(resource_dict(hw, exported), indent=1))
    return sims


def summary_rows(run: Path, sims: dict[str, dict]) -> list[dict]:
    """Return one comparison row per trained model: accuracy, size, and the simulated accelerator cost."""
    rows = []
    for name, sim in sims.items():
        final = json.loads((run / name / "history.json").read_text())["final"]
        t = sim["total"]
        rows.append({"method": name, "test_acc_%": round(final["test_acc"], 2), "params": final["params"],
                     "MACs": final["macs"], "latency_us": round(t["latency_us"], 1),
                     "DRAM_energy_uJ": round(t["energy_pj"]["dram"] / 1e6, 2),
                     "energy_uJ": round(t["energy_pj"]["total"] / 1e6, 2), "train_s": final["train_seconds"]})
    base = rows[0]
    for row in rows[1:]:
        for key in ("params", "MACs", "latency_us", "DRAM_energy_uJ"):
            row[f"{key} vs {base['method']}"] = f"{100 * (row[key] / base[key] - 1):+.1f}%"
    return rows


def run(args: argparse.Namespace) -> int:
    """Run every stage, print the summary table, write the report; return 0 (1 if C-sim is not bit-exact)."""
    from cgap.report.html import write_report

    run_dir = Path(args.out)
    refuse_non_empty(run_dir, args.force, "run directory")
    epochs, subset, images = PROFILES[args.profile]
    epochs, subset = args.epochs or epochs, args.subset or subset
    dataset = pick_dataset(args.dataset, args.data_dir)
    start = time.perf_counter()
    models = {m: _train(run_dir, args, dataset, m, epochs, subset) for m in ("full", "cgap")}
    models["uniform"] = _train(run_dir, args, dataset, "uniform", epochs, subset,
                               ("--match", str(models["cgap"]), "--by", "latency", "--hw", args.hw))
    verify = _export(run_dir, args, models["cgap"], images)
    rows = summary_rows(run_dir, _simulate(run_dir, args.hw, models))
    write_text_atomic(run_dir / "summary.json", json.dumps(rows, indent=1))
    report = write_report(run_dir)
    print(f"\n== summary ({dataset}, {args.arch}, {epochs} epochs on {subset} images, hw {args.hw})")
    keys = list(rows[-1])
    print(format_table(keys, [[r.get(k, "") for k in keys] for r in rows]))
    print(f"C-sim of the cgap model: bit_exact={verify['bit_exact']}, top-1 agreement with float "
          f"{100 * verify['top1_agreement']:.1f}% on {verify['images']} test images")
    print(f"report: {report}  ({time.perf_counter() - start:.0f} s in all)")
    return 0 if verify["bit_exact"] else 1
