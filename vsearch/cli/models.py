"""`vsearch models`: what each model is, how well and how fast it searches, where it works."""
from __future__ import annotations

from rich.table import Table

from .common import JsonOpt, handles_errors, out, print_json


def _r1(pair) -> str:
    return f"{pair[0]:.1f} / {pair[1]:.1f}" if pair else "–"


@handles_errors
def models(as_json: bool = JsonOpt) -> None:
    """List the models vsearch knows: what each is, its measured Flickr8k recall and speed here,
    whether it works offline; and well-known open_clip models (with published figures) for
    machines with a network."""
    from ..models.registry import MODELS, OPENCLIP_SUGGESTIONS, WEIGHTS_DIR

    rows = []
    for card in MODELS.values():
        shipped = bool(card.weights and (WEIGHTS_DIR / card.weights).is_file())
        rows.append({"name": card.name, "summary": card.summary, "weights_shipped": shipped, "offline": card.offline,
                     "embed_dim": card.config.get("embed_dim"), "license": card.license, **card.figures})
    published = [{"name": p.name, "summary": p.summary, "flickr30k_r1": p.flickr30k_r1, "params_m": p.params_m,
                  "offline": False} for p in OPENCLIP_SUGGESTIONS]
    if as_json:
        print_json({"models": rows, "openclip": published})
        return
    t = Table(title="Models that ship with vsearch (offline)",
              caption="R@1: Flickr8k, text→image / image→text, measured here; img/s: image tower on a 2-core CPU")
    t.add_column("name", no_wrap=True)
    t.add_column("what it is", overflow="fold", ratio=1)
    for c in ("test R@1", "dev R@1", "img/s", "weights"):
        t.add_column(c, no_wrap=True)
    for r in rows:
        t.add_row(r["name"] + (" (default)" if r["name"] == "align-lite" else ""), r["summary"],
                  _r1(r.get("flickr8k_test_r1")), _r1(r.get("flickr8k_dev_r1")), str(r.get("images_per_s", "–")),
                  "shipped" if r["weights_shipped"] else "train them")
    out.print(t)
    p = Table(title="With a network: open_clip models (--model NAME; weights download once)",
              caption="R@1: Flickr30k zero-shot, text→image / image→text, as open_clip publishes them")
    p.add_column("name", no_wrap=True)
    p.add_column("what it is", overflow="fold", ratio=1)
    for c in ("R@1", "params (M)"):
        p.add_column(c, no_wrap=True)
    for r in published:
        p.add_row(r["name"], r["summary"], _r1(r["flickr30k_r1"]), str(r["params_m"]))
    out.print(p)
    out.print("Any open_clip model works as openclip:<arch>/<tag> (see open_clip.list_pretrained()), and a "
              "checkpoint from `vsearch train` as --model PATH. Weights that are not shipped: "
              "`vsearch train ../flickr8k --preset align-lite --model align-lite-l0`.")
