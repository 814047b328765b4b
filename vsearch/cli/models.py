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
    t = Table(title="Models that ship with vsearch (work offline)", show_lines=False)
    for c in ("name", "what it is", "Flickr8k test R@1 t→i / i→t", "dev R@1", "images/s (2-core CPU)", "ready"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(r["name"] + (" (default)" if r["name"] == "align-lite" else ""), r["summary"],
                  _r1(r.get("flickr8k_test_r1")), _r1(r.get("flickr8k_dev_r1")), str(r.get("images_per_s", "–")),
                  "yes" if r["weights_shipped"] else "train first: vsearch train --preset / --model")
    out.print(t)
    p = Table(title="With a network: open_clip models (--model NAME; weights download once)")
    for c in ("name", "what it is", "Flickr30k R@1 t→i / i→t (published, zero-shot)", "params (M)"):
        p.add_column(c, overflow="fold")
    for r in published:
        p.add_row(r["name"], r["summary"], _r1(r["flickr30k_r1"]), str(r["params_m"]))
    out.print(p)
    out.print("Any open_clip architecture and tag works: openclip:<arch>/<tag> (open_clip.list_pretrained()). "
              "A checkpoint from `vsearch train` works as --model PATH. Flickr30k figures are from open_clip's "
              "published retrieval results; Flickr8k figures were measured here with `vsearch eval`.")
