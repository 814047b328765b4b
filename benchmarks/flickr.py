"""Where the benchmarks find the Flickr8k copy: $VSEARCH_FLICKR8K, else ../shared/data/flickr8k
beside the repository (as the tests do)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

FLICKR = Path(os.environ.get("VSEARCH_FLICKR8K", Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k"))


def add_flickr_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--flickr", type=Path, default=FLICKR, help="the Flickr8k folder (default: $VSEARCH_FLICKR8K, "
                                                                 "else ../shared/data/flickr8k)")
