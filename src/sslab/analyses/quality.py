"""Quality without labels: is a representation collapsed, and how are its features spread? Per encoder, on its
frozen features of the test images: the singular-value spectrum and its effective rank (RankMe, Garrido et al.
2023), the participation ratio of its variances, and alignment and uniformity (Wang & Isola 2020), alignment
measured on two views of each image drawn with the encoder's own view recipe (the study's, for an encoder trained
without views). The online monitor tracks RankMe during training too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sslab import analysis, plots
from sslab.analyses.base import Context, Figures
from sslab.html import table as html_table
from sslab.i18n import N_, _

QUESTION = N_("Is a representation collapsed, and how are its features spread?")
ORDER = 15
NEEDS = ()
COLLAPSE = 0.1  # RankMe below this share of the features' possible rank (and below 2): dimensional collapse


@dataclass(frozen=True)
class Config:
    images: int = 2000  # test images whose features give the spectrum, RankMe and uniformity
    view_images: int = 1000  # of them, those drawn twice for alignment


QUICK = {"images": 500, "view_images": 300}

FIGURES = {
    "spectrum": N_("The singular values of each encoder's test-image features, largest first, each divided by its "
                   "largest (log scale): a flat curve spreads the images over many directions, one that drops at once "
                   "keeps few (dimensional collapse)."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    g = torch.Generator().manual_seed(s.cfg.seed)
    test = s.split.test
    idx = test[torch.randperm(len(test), generator=g)[:cfg.images]].sort().values
    pairs = idx[: cfg.view_images]
    x = s.images.x[pairs]
    out: dict[str, Any] = {"n_images": len(idx), "n_view_images": len(pairs), "encoders": {}}
    spectra = {}
    for name in s.encoders:
        h = s.features(name, idx)
        sv = analysis.spectrum(h)
        spectra[name] = (sv / sv[0]).clamp_min(1e-12).float() if sv[0] > 0 else torch.ones_like(sv).float()
        v1, v2 = (_views(s, name, x, torch.Generator().manual_seed(s.cfg.seed + k)) for k in (1, 2))
        r = out["encoders"][name] = {"rankme": analysis.rankme(h), "participation_ratio": analysis.participation_ratio(h),
                                     "alignment": analysis.alignment(s.encode(name, v1), s.encode(name, v2)),
                                     "uniformity": analysis.uniformity(h[: cfg.view_images]),
                                     "max_rank": min(h.shape)}
        r["collapsed"] = r["rankme"] < max(2.0, COLLAPSE * r["max_rank"])
        s.log(f"  {name}: RankMe {r['rankme']:.1f} of {r['max_rank']}, alignment {r['alignment']:.3f}, "
              f"uniformity {r['uniformity']:.2f}" + ("  (dimensional collapse)" if r["collapsed"] else ""))
    return out, {"spectrum": plots.later(plots.spectra, spectra)}


def _views(s: Context, name: str, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One view of each uint8 image, as uint8 at the images' size: the encoder's own recipe, or the study's where
    its own gives crops of another size (multi-crop)."""
    v = s.view_recipe(name)(x, g)
    if isinstance(v, list) or v.shape != x.shape:
        v = s.view_recipe("")(x, g)
    return (v.clamp(0, 1) * 255).round().to(torch.uint8)


def table(r: dict[str, Any], encoders: list[str]) -> str:
    rows = []
    for n in encoders:
        e = r["encoders"].get(n)
        if e is None:
            continue
        rows.append([n, f"{e['rankme']:.1f} / {e['max_rank']}", f"{e['participation_ratio']:.1f}",
                     f"{e['alignment']:.3f}", f"{e['uniformity']:.2f}"])
    collapsed = [n for n in encoders if r["encoders"].get(n, {}).get("collapsed")]
    note = ("<p>" + _("Dimensional collapse: {names} spread their test images over fewer than {share} of the "
                      "directions their features could take (RankMe).").format(
        names=", ".join(collapsed), share=f"{COLLAPSE:.0%}") + "</p>") if collapsed else ""
    return html_table([_("encoder"), _("RankMe / possible"), _("participation ratio"), _("alignment (lower: views "
                      "closer)"), _("uniformity (lower: more uniform)")], rows) + note
