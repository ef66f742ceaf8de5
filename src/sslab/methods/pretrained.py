"""Pretrained: frozen features of a registered encoder loaded from a weights file (nothing is trained).

`weights` is a safetensors file or a PyTorch state dict (`torch.save(model.state_dict(), ...)`),
read with `weights_only=True`, so a file can never run code (a pickled whole module is refused).
Its tensors are matched to the encoder's by name, after removing the longest common prefix on
either side (`encoder.`, `module.`, `backbone.` ...) or under one prefix of the file's names, so a file
that holds more than the encoder (a whole autoencoder, a classifier's head) loads its encoder part;
failing that, in order and shape as the file's first tensors (a torch state dict keeps its order;
safetensors sorts names); failing that, one error lists what does not match. What the file holds
beyond the encoder is named in one line (`note()`, which a study logs). Any other nn.Module comes in through the Python API: `Pretrained.wrap(module)` (see
sslab.study.run's `modules`). This is how features trained
elsewhere (e.g. CLIP's, which would need a download here) enter a study beside sslab's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets
from sslab.errors import SslabError
from sslab.methods.base import Method, register
from sslab.methods._net import NetConfig


@dataclass(frozen=True)
class PretrainedConfig(NetConfig):
    weights: str = ""  # a .safetensors file or a torch state dict (.pt/.pth) for `encoder`


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """A weights file -> {name: tensor}: safetensors, or a state dict loaded with weights_only=True
    (a {"state_dict": ...} or {"model": ...} checkpoint is unwrapped)."""
    if not os.path.isfile(path):
        raise SslabError(f"pretrained.weights: no such file: {path!r}")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as e:  # noqa: BLE001 -- any parse failure means the same thing to the user
            raise SslabError(f"pretrained.weights: {path} is not a safetensors file ({e})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise SslabError(f"pretrained.weights: {path} is not a state dict of tensors "
                         f"(only weights are read, never pickled objects): {str(e).splitlines()[0]}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SslabError(f"pretrained.weights: {path} holds no state dict of tensors")
    return state


def _strip(names: list[str]) -> list[str]:
    """Names without the longest dotted prefix they all share ("module.encoder.conv1.weight" -> "conv1.weight")."""
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    prefix = prefix[: prefix.rfind(".") + 1]
    return [n[len(prefix):] for n in names]


def _prefixes(names: list[str]) -> list[str]:
    """Every dotted prefix of the names, "" first: "a.b.c" -> "", "a.", "a.b."."""
    found = {""}
    for n in names:
        parts = n.split(".")[:-1]
        found.update(".".join(parts[:i]) + "." for i in range(1, len(parts) + 1))
    return sorted(found, key=len)


def _by_name(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> dict[str, str] | None:
    """{own name: file name} when every tensor of `own` (common prefix removed) is in the file under one prefix
    with its shape; None otherwise. The file may hold more (a head, an optimiser's companion tensors)."""
    mine = dict(zip(_strip(list(own)), own))
    for prefix in _prefixes(list(state)):
        pairs = {mine[k]: prefix + k for k in mine}
        if all(v in state and state[v].shape == own[k].shape for k, v in pairs.items()):
            return pairs
    return None


def load_matching(module: nn.Module, state: dict[str, torch.Tensor]) -> tuple[str, list[str]]:
    """Copy `state` into module's parameters and buffers: matched by name (common prefixes removed, or under one
    prefix of the file's names), or else in order and shape with the encoder's tensors the file's first ones.
    Returns how it matched ("names" or "order") and the file's tensors left out; raises SslabError with the
    mismatches when neither way matches."""
    own = module.state_dict()
    pairs = _by_name(own, state)
    if pairs is not None:
        module.load_state_dict({k: state[v] for k, v in pairs.items()})
        return "names", [k for k in state if k not in set(pairs.values())]
    first = list(state.items())[: len(own)]
    if len(first) == len(own) and all(a.shape == b.shape for a, (_, b) in zip(own.values(), first)):
        module.load_state_dict({k: v for k, (_, v) in zip(own, first)})
        return "order", list(state)[len(own):]
    mine, theirs = dict(zip(_strip(list(own)), own)), dict(zip(_strip(list(state)), state))
    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    shapes = [f"{k}: {tuple(state[theirs[k]].shape)} in the file, {tuple(own[mine[k]].shape)} here"
              for k in sorted(set(mine) & set(theirs)) if own[mine[k]].shape != state[theirs[k]].shape]
    parts = [f"missing from the file: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"] * bool(missing)
    parts += [f"not in the encoder: {', '.join(extra[:8])}{' ...' if len(extra) > 8 else ''}"] * bool(extra)
    parts += [f"shapes differ: {'; '.join(shapes[:8])}"] * bool(shapes)
    raise SslabError(f"the weights match the encoder neither by name nor by order and shape "
                     f"({len(state)} tensors in the file, {len(own)} in the encoder): " + "; ".join(parts))


@register
class Pretrained(Method):
    Config = PretrainedConfig

    def __init__(self, cfg: PretrainedConfig, image_shape: tuple[int, int, int], n_classes: int,
                 module: nn.Module | None = None):
        super().__init__(cfg, image_shape, n_classes)
        if module is not None:
            self.encoder = module
            return
        self.encoder = nets.build(cfg.encoder, image_shape)
        if not cfg.weights:
            raise SslabError("pretrained needs a weights file: --set pretrained.weights=PATH "
                             "(.safetensors, or a torch state dict) for --set pretrained.encoder=NAME")
        self.matched, self.left_out = load_matching(self.encoder, read_weights(cfg.weights))
        self.encoder.requires_grad_(False)

    def note(self) -> str:
        if self.cfg.weights and self.left_out:
            return (f"pretrained: {len(self.encoder.state_dict())} tensors loaded by {self.matched}; "
                    f"{len(self.left_out)} left out: {', '.join(self.left_out[:6])}{' ...' * (len(self.left_out) > 6)}")
        return ""

    @classmethod
    def wrap(cls, module: nn.Module) -> "Pretrained":
        """Any nn.Module mapping float images (B, C, H, W) in [0, 1] to (B, D) as a frozen encoder."""
        method = cls(PretrainedConfig(), (1, 1, 1), 2, module=module)
        module.requires_grad_(False)
        return method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)  # (B, D)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self(x) if not self.cfg.layer else super().features(x)
