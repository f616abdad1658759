"""Training progress: a tqdm bar on a terminal, one line per epoch on a file or pipe (a log stays small)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cgap.train.progress import BarProgress, LineProgress, NoProgress, open_progress

ROOT = Path(__file__).resolve().parents[1]


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class BareWriter:
    """A stream with no isatty at all (some wrappers only write)."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def _drive(stream: io.StringIO, enabled: bool = True, epochs: int = 3, steps: int = 50) -> str:
    progress = open_progress(epochs * steps, 0, enabled, stream)
    for epoch in range(1, epochs + 1):
        for _ in range(steps):
            progress.step(f"epoch {epoch}/{epochs} grow", 0.5, 80.0, 1234)
        progress.end_epoch(f"epoch {epoch}/{epochs} grow: summary")
    progress.close()
    return stream.getvalue()


def test_a_file_or_pipe_gets_one_line_per_epoch_and_no_bar():
    assert isinstance(open_progress(10, 0, True, io.StringIO()), LineProgress)
    text = _drive(io.StringIO())
    assert text.splitlines() == [f"epoch {e}/3 grow: summary" for e in (1, 2, 3)] and "\r" not in text


def test_a_terminal_gets_the_tqdm_bar():
    assert isinstance(open_progress(10, 0, True, FakeTerminal()), BarProgress)
    text = _drive(FakeTerminal())
    assert "\r" in text and "150/150" in text and "loss=0.500" in text and "summary" not in text


def test_disabled_progress_and_streams_that_cannot_say_they_are_terminals():
    assert isinstance(open_progress(10, 0, False, FakeTerminal()), NoProgress)
    assert _drive(FakeTerminal(), enabled=False) == ""
    bare = BareWriter()
    progress = open_progress(10, 0, True, bare)
    progress.end_epoch("epoch 1/1 train: summary")
    assert isinstance(progress, LineProgress) and bare.text == "epoch 1/1 train: summary\n"
    closed = io.StringIO()
    closed.close()  # its isatty() raises ValueError
    assert isinstance(open_progress(10, 0, True, closed), LineProgress)


def test_training_into_a_log_file_writes_one_line_per_epoch(tmp_path):
    out, log = tmp_path / "run", tmp_path / "train.log"
    argv = [sys.executable, "-m", "cgap", "train", "--arch", "lenet5", "--dataset", "digits", "--epochs", "3",
            "--subset", "640", "--batch-size", "8", "--threads", "1", "--min-width", "1", "--target-params", "0.5",
            "--target-macs", "none", "--out", str(out)]  # 80 steps per epoch, progress on (the default)
    with log.open("w") as sink:
        subprocess.run(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=sink,
                       stderr=subprocess.STDOUT, timeout=300, check=True)
    text = log.read_text()
    lines = [line for line in text.splitlines() if not line.startswith(("note:", "warning:"))]
    history = json.loads((out / "history.json").read_text())
    assert (history["steps_per_epoch"], history["total_steps"]) == (80, 240)
    assert "\r" not in text and len(text) < 2000, text
    assert len(lines) == 4 and lines[-1].startswith("cgap lenet5 on digits: test accuracy"), lines
    for line, epoch in zip(lines, history["epochs"][1:], strict=False):
        match = re.match(r"epoch (\d+)/3 (\w+): loss ([\d.]+), val ([\d.]+)%, params (\d+), step (\d+)/240", line)
        assert match, line
        assert (int(match[1]), match[2], int(match[5]), int(match[6])) == (
            epoch["epoch"], epoch["phase"], epoch["params"], 80 * epoch["epoch"])
        assert (float(match[3]), float(match[4])) == (round(epoch["train_loss"], 3), round(epoch["val_acc"], 1))
