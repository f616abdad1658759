"""Training progress: a tqdm bar on a terminal, one plain line per epoch on a file or pipe.

A bar redraws itself many times a second with carriage returns; sent to a log file that is every update
kept (hundreds of KB for a short run).  So :func:`open_progress` draws the bar only when its stream is a
terminal, and otherwise prints the line the loop gives at each epoch's end.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from tqdm import tqdm


class Progress(Protocol):
    """What the training loop reports progress to."""

    def step(self, description: str, loss: float, val_acc: float, params: int) -> None:
        """Note one finished optimizer step."""

    def end_epoch(self, line: str) -> None:
        """Note a finished epoch, summarised in ``line``."""

    def close(self) -> None:
        """Finish the display."""


class NoProgress:
    """Shows nothing (``--no-progress``, and every rank but rank 0 under DDP)."""

    def step(self, description: str, loss: float, val_acc: float, params: int) -> None:
        """Do nothing."""

    def end_epoch(self, line: str) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


class BarProgress:
    """A tqdm bar over all steps of the run, for a terminal."""

    def __init__(self, total: int, done: int, stream: TextIO) -> None:
        self.bar = tqdm(total=total, initial=done, unit="step", dynamic_ncols=True, file=stream)

    def step(self, description: str, loss: float, val_acc: float, params: int) -> None:
        """Advance the bar by one step and show the step's loss, the last val accuracy and the params."""
        self.bar.set_description(description)
        self.bar.set_postfix(loss=f"{loss:.3f}", val=f"{val_acc:.1f}", params=params, refresh=False)
        self.bar.update(1)

    def end_epoch(self, line: str) -> None:
        """Do nothing: the bar already shows the epoch."""

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


class LineProgress:
    """One line per epoch, for a file or a pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def step(self, description: str, loss: float, val_acc: float, params: int) -> None:
        """Do nothing: steps are summarised at the epoch's end."""

    def end_epoch(self, line: str) -> None:
        """Write ``line`` and flush (so a ``tail -f`` of the log keeps up)."""
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Do nothing."""


def is_terminal(stream: TextIO) -> bool:
    """Return whether ``stream`` is an interactive terminal (False when it cannot say)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def open_progress(total: int, done: int, enabled: bool, stream: TextIO | None = None) -> Progress:
    """Return the progress display for a run of ``total`` steps, ``done`` of them already done.

    Nothing when not ``enabled``; a tqdm bar when ``stream`` (default: standard error) is a terminal;
    otherwise one line per epoch.
    """
    if not enabled:
        return NoProgress()
    stream = stream if stream is not None else sys.stderr
    return BarProgress(total, done, stream) if is_terminal(stream) else LineProgress(stream)
