"""Live training metrics: per-step loss, learning rate and throughput as JSON lines, and as TensorBoard
event files when asked (`--tensorboard`, needs the `tensorboard` package), to watch a long run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sslab.errors import SslabError


class Monitor:
    """Appends one JSON object per training step to `jsonl` (flushed at every write), and mirrors each
    number to TensorBoard scalars under `tensorboard` (a folder) when given."""

    def __init__(self, jsonl: Path | None = None, tensorboard: Path | None = None, tag: str = ""):
        self.tag = tag
        self.file = None
        if jsonl is not None:
            jsonl.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(jsonl, "a")  # a resumed run appends after the steps it kept
        self.writer = None
        if tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise SslabError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
            self.writer = SummaryWriter(str(tensorboard))

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.file is not None:
            self.file.writelines(json.dumps(r) + "\n" for r in records)
            self.file.flush()
        if self.writer is not None:
            for r in records:
                for k, v in r.items():
                    if k not in ("step", "epoch") and isinstance(v, (int, float)):
                        self.writer.add_scalar(f"{self.tag}/{k}" if self.tag else k, v, r["step"])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.writer is not None:
            self.writer.close()
