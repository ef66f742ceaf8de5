"""The run folder: taken atomically, written as `<name>.partial/` until the run is complete, resumable from
what an interrupted run kept there (training checkpoints, finished encoders, finished analyses), and read back
(`load_encoder`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from sslab import atomic, methods, store
from sslab.errors import SslabError


def partial(out_dir: Path) -> Path:
    """Where a run is written until it is complete."""
    return out_dir.with_name(out_dir.name + ".partial")


def claim(tmp: Path) -> None:
    """Take a run's name: create its unfinished folder, atomically, so two runs of one name cannot share (or
    delete) one folder; the second is refused."""
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except FileExistsError:
        final = tmp.with_name(tmp.name.removesuffix(".partial"))
        raise SslabError(f"{tmp} exists: a run of this name is running, or one was stopped; resume it with "
                         f"sslab run --resume {final}, remove it, or choose another --name") from None
    except OSError as e:
        raise SslabError(f"cannot write the run folder {tmp}: {e.strerror}") from None


def resumable(tmp: Path) -> bool:
    """True when an unfinished run folder holds work worth resuming: a checkpoint or a finished encoder."""
    return any((tmp / "checkpoints").glob("*.safetensors")) or any((tmp / "encoders").glob("*.json"))


def kept_analysis(tmp: Path, key: str) -> dict[str, Any] | None:
    """What an interrupted run finished of analysis `key` ({"results", "seconds", "figures"}), or None."""
    done = tmp / "analyses" / f"{key}.json"
    return json.loads(done.read_text()) if done.is_file() else None


def keep_analysis(tmp: Path, key: str, results: dict[str, Any], seconds: float, figures: list[str]) -> None:
    """Record a finished analysis, so a resumed run does not run it again (written atomically)."""
    done = tmp / "analyses" / f"{key}.json"
    atomic.write_text(done, json.dumps({"results": results, "seconds": seconds, "figures": figures}, default=str))


def load_encoder(run_dir: str | Path, name: str, device: str | torch.device = "cpu") -> methods.Method:
    """A finished run's trained encoder `name`, rebuilt from its settings in results.json and its weights in
    encoders/, in eval mode: `train.extract(m, x)` gives its frozen features of uint8 images x (N, C, H, W)."""
    run_dir = Path(run_dir)
    try:
        results = json.loads((run_dir / "results.json").read_text())
        settings = results["config"]["methods"][name]
    except (OSError, ValueError):
        raise SslabError(f"{run_dir} holds no finished run (no readable results.json)") from None
    except KeyError:
        raise SslabError(f"{run_dir} has no encoder {name!r}; it has {', '.join(results['encoders'])}") from None
    method_name = methods.parse_encoder(name)[0]
    config = methods.REGISTRY[method_name].Config
    default = config()
    changed = {f.name: settings[f.name] for f in dataclasses.fields(config)  # the defaults stay implicit
               if f.name in settings and settings[f.name] != _jsonable(getattr(default, f.name))}
    cfg = methods.make_config(method_name, changed)
    method = methods.create(name, cfg, tuple(results["data"]["image_shape"]), max(2, len(results["classes"])))
    if method.state_dict() and store.load(run_dir / "encoders", name, method) is None:
        raise SslabError(f"{run_dir / 'encoders' / name}.safetensors is missing or damaged")
    return method.to(device).eval()


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v
