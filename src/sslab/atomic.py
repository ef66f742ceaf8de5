"""Files replaced whole or not at all: the new content goes to a temporary file beside the old one, then is
renamed over it; a failure (a full disk, an interrupt) removes the temporary file and leaves the old one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def replace(path: Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """write(tmp) to path + suffix, then rename it to path (atomic on one file system)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """path holds the old text or the new one, never a part."""
    replace(path, lambda tmp: tmp.write_text(text))
