"""The run's history: one entry per epoch (epoch 0 = the initial model) and one per structural event."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cgap.atomic import write_text_atomic


@dataclass
class History:
    """Plain-data log written to ``history.json``; ``summary`` is what goes into checkpoint meta."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def add_epoch(self, **entry: Any) -> None:
        """Append an epoch entry (keys: epoch, params, macs, train_loss, val_acc, widths, ...)."""
        self.epochs.append(entry)

    def add_event(self, **entry: Any) -> None:
        """Append a structural event (keys: kind, epoch, step, params_before, params_after, ...)."""
        self.events.append(entry)

    def to_dict(self) -> dict[str, Any]:
        """Return the whole history as plain data."""
        return {"epochs": self.epochs, "events": self.events, **self.info}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> History:
        """Return a history rebuilt from :meth:`to_dict` output."""
        info = {k: v for k, v in doc.items() if k not in ("epochs", "events")}
        return cls(list(doc.get("epochs", [])), list(doc.get("events", [])), info)

    def summary(self) -> dict[str, Any]:
        """Return the last epoch's figures, the event counts and the run info."""
        last = self.epochs[-1] if self.epochs else {}
        counts = {k: sum(e["kind"] == k for e in self.events) for k in ("grow", "prune")}
        keep = ("epoch", "params", "macs", "val_acc", "widths")
        return {"last_epoch": {k: last.get(k) for k in keep}, "event_counts": counts, **self.info}

    def write(self, path: str | Path) -> Path:
        """Write ``history.json`` atomically; return its path."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")
