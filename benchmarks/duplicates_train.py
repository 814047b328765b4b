"""The 6,000 Flickr8k train photos as they are (no edits), for the near-duplicate rule's precision
at a size the edited libraries do not reach (18M pairs): every pair the rule groups there is
either one of the photos' own bursts, series or duplicates (labelled below, by eye) or a pair of
different photos. benchmarks/duplicates.py chooses the defaults so that none of the latter is
grouped. Train photos are the model's training data: choosing on them is allowed, test is not.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Shots of one scene in Flickr8k train, labelled by eye: (photo, photo, kind, what).
# same: one photo twice; burst: moments apart, camera (nearly) still; series: the same subject
# and place, another shot; different: different photos of one kind of scene.
LABELS = [
    ("2851198725_37b6027625", "3050606344_af711c726c", "same", "one photo, posted twice"),
    ("2750867389_4b815f793a", "2751694538_fffa3d307d", "burst", "a jeep: people moved"),
    ("2797185895_4d9e1e9508", "2797188545_aeb26c54c0", "burst", "a canoe on a river: the canoe moved"),
    ("3308171165_20f93d2fba", "3308997740_91765ecdcc", "burst", "a girl: head turned"),
    ("3425853460_bfcd0b41f6", "3425887426_bf60b8afa3", "burst", "a tennis player: camera followed"),
    ("186890601_8a6b0f1769", "186890605_ddff5b694e", "burst", "a rope swing over a lake"),
    ("2206594874_5e0087c6b7", "2206600240_f65df56a09", "burst", "a couple at a table"),
    ("3627290893_561e176e80", "3628103548_2708abcda2", "series", "a band: zoomed in, a moment later"),
    ("3562001359_65c63aeda3", "3562816250_6e14d436b1", "series", "a kayak and a dog: another shot"),
    ("3351704877_28dea303aa", "3352531708_a65dd694b1", "series", "camel riders: another shot"),
    ("3426933951_2302a941d8", "3426966595_c8c4e1e872", "series", "a church door: people moved"),
    ("3516299821_8f0375d221", "3516312179_f520469038", "series", "a softball batter: another swing"),
    ("3259992164_94600858b3", "3259992638_0612a40288", "series", "a street show: another moment"),
    ("3315110972_1090d11728", "3454315016_f1e30d4676", "different", "white birds over dark water"),
    ("241347114_6273736da8", "241347150_5ff37818c2", "different", "two plays of one football game"),
    ("241345323_f53eb5eec4", "241346260_f50d57b517", "different", "two plays of one football game"),
    ("2875583266_4da13ae12d", "2882056260_4399dd4d7c", "different", "two motorbike races"),
    ("108899015_bf36131a57", "3273403495_fcd09c453e", "different", "two snow slopes under a blue sky"),
    ("106514190_bae200f463", "108899015_bf36131a57", "different", "two snow slopes under a blue sky"),
    ("108899015_bf36131a57", "2637510448_4521cf6f29", "different", "a snow slope, a snowboarder"),
    ("3355827928_c96c0c3e88", "3559429170_3183c404b9", "different", "two BMX jumps"),
]
EXPLAINED = ("same", "burst", "series")


class TrainPool:
    """The train photos' near pairs (found once, cached beside the benchmark's libraries)."""

    def __init__(self, flickr: Path, cache: Path):
        from vsearch.duplicates import Batch, find_pairs
        from vsearch.imaging import read_image_file
        from vsearch.imaging.signature import thumbnail

        sys.path.insert(0, str(REPO / "benchmarks"))
        from index import flickr_vectors

        data = flickr_vectors()
        names = data["image_names"].tolist()
        train = set((flickr / "splits" / "train.txt").read_text().split())
        rows = np.array([i for i, n in enumerate(names) if n in train])
        self.names = [names[i] for i in rows]
        path = cache / "train-signatures.npz"
        if path.is_file():
            with np.load(path) as z:
                thumbs, shapes = z["thumbs"], z["shapes"]
        else:
            pics = [read_image_file(flickr / "images" / n, 224).image for n in self.names]
            thumbs, shapes = np.stack([thumbnail(p) for p in pics]), np.array([p.size for p in pics], np.float32)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, thumbs=thumbs, shapes=shapes)
        self.pairs = find_pairs([Batch(np.arange(len(rows), dtype=np.int64), data["images"][rows], thumbs, shapes)],
                                len(rows), data["images"].shape[1])
        at = {n.removesuffix(".jpg"): i for i, n in enumerate(self.names)}
        self.labels = {tuple(sorted((at[a], at[b]))): (kind, what) for a, b, kind, what in LABELS if a in at and b in at}

    def grouped(self, rule) -> list[tuple[int, int, float, str, str]]:
        """(photo, photo, cosine, kind, route) of every pair the rule calls the same photo."""
        from vsearch.duplicates import HOW

        how = rule.how(self.pairs)
        out = []
        for k in np.flatnonzero(how >= 0):
            key = (int(self.pairs.a[k]), int(self.pairs.b[k]))
            out.append((*key, float(self.pairs.similarity[k]), self.labels.get(key, ("unlabelled", ""))[0], HOW[how[k]]))
        return out

    def unexplained(self, rule) -> int:
        """Grouped pairs that are not a labelled duplicate, burst or series."""
        return sum(kind not in EXPLAINED for *_, kind, _ in self.grouped(rule))

    def print_grouped(self, rule) -> None:
        print(f"\ntrain photos ({len(self.names):,}, no edits) grouped at the chosen rule:")
        for a, b, sim, kind, route in sorted(self.grouped(rule), key=lambda g: -g[2]):
            what = self.labels.get((a, b), ("", "not labelled"))[1]
            print(f"  {kind:<10} by {route:<8} cos {sim:.3f}  {what}  ({self.names[a]}, {self.names[b]})")
        apart = [lab for key, lab in self.labels.items() if key not in {(a, b) for a, b, *_ in self.grouped(rule)}]
        for kind, what in apart:
            print(f"  {kind:<10} apart          {what}")
