"""vsearch in the browser: search a collection by text or example image, filter, browse, compare.

    vsearch ui [COLLECTION] [--home DIR]          (or: streamlit run vsearch/ui/app.py -- --home DIR)

Talks only to vsearch's public API. The collection (model, FAISS index, metadata) is opened once
per server process and shared by sessions; each rerun works on a snapshot of it, so that one
interaction reads one generation while other sessions pick up newer ones; thumbnails are made
once and cached on disk.

Everything that comes from outside (file and folder names, EXIF strings, model names, messages that
quote them) is shown through vsearch.escape.for_markdown, or in a code block: never as Markdown.
Uploads are decoded by the same bounded reader as ingest (vsearch.imaging), and only their query
vectors are cached, a bounded number of them.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import streamlit as st

import vsearch
from vsearch.escape import for_markdown, for_terminal, valid_utf8
from vsearch.search.hits import clock

GRID_COLUMNS = 5
THUMB = 320
LARGE = 1280
UPLOAD_VECTORS = 32  # query vectors of recent uploads kept (1 KB each): never the decoded pictures


def _cli_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--home")
    ap.add_argument("--collection")
    ap.add_argument("--reranker", default=os.environ.get("VSEARCH_RERANKER") or None,
                    help="ITM checkpoint to rerank with (default: the model's shipped one)")
    return ap.parse_known_args(sys.argv[1:])[0]


@st.cache_resource(show_spinner="Opening collection…")
def open_collection(home: str | None, name: str, reranker: str | None) -> "vsearch.Collection":
    return vsearch.open_collection(name, home=home, reranker=reranker)


def decode_upload(col: "vsearch.Collection", data: bytes):
    """An uploaded image decoded as ingest decodes a file: bounded by what it really is, at no more
    than the model's input size where the format allows; anything refused is an ImageError."""
    from vsearch.imaging import decode_image_bytes

    return decode_image_bytes(data, col.preprocess.size).image


@st.cache_data(show_spinner=False, max_entries=UPLOAD_VECTORS)
def upload_vector(_col: "vsearch.Collection", fingerprint: str, data: bytes) -> np.ndarray:
    """The query vector of an upload (keyed by the model's fingerprint and the bytes)."""
    return _col.image_vector(decode_upload(_col, data))


def say(kind, e: Exception) -> None:
    """A library error in the page: its message quotes names, so it is shown as text."""
    kind(for_markdown(str(e)))


# --- sidebar ---------------------------------------------------------------------------------
def pick_collection(home: str | None, wanted: str | None, reranker: str | None) -> "vsearch.Collection | None":
    names = vsearch.list_collections(home)
    if not names:
        st.title("vsearch")
        st.info("No collection yet. Index a folder of photos first:\n\n    vsearch ingest ./photos")
        return None
    if wanted is not None and wanted not in names:  # a name is never a path (store/home.py)
        st.sidebar.warning(for_markdown(f"no collection {wanted!r}: showing {names[0]!r}"))
    default = names.index(wanted) if wanted in names else 0
    name = st.sidebar.selectbox("Collection", names, index=default, key="collection", format_func=valid_utf8)
    try:
        shared = open_collection(home, name, reranker)
        shared.reload()  # a newer ingest is picked up without restarting the app
        # This rerun reads one generation, whatever other sessions reload meanwhile (Collection's contract).
        col = shared.snapshot()
    except vsearch.VsearchError as e:
        say(st.error, e)
        return None
    info = col.info(disk_usage=False)
    c = info["counts"]
    last = (info.get("last_ingest") or {}).get("at") or info.get("updated") or "?"
    st.sidebar.caption(
        f"**{c.get('images', 0):,}** images · model {for_markdown(info['model'])} · index `{info['index']['type']}`  \n"
        f"last ingest {str(last)[:16].replace('T', ' ')} · {c.get('errors', 0)} unreadable file(s)")
    return col


def filter_widgets(col: "vsearch.Collection") -> "vsearch.Filter":
    f = col.facets()
    with st.sidebar.expander("Filters", expanded=False):
        counts = dict(f["folders"])
        folders = st.multiselect("Folder", list(counts), key="f_folders", format_func=lambda x: f"{x} ({counts[x]})")
        taken = ()
        if f["taken_min"] is not None:
            lo, hi = f["taken_min"].date(), f["taken_max"].date()
            taken = st.date_input("Taken between", value=(), min_value=lo, max_value=hi, key="f_taken",
                                  help="EXIF capture date; photos without one are left out when set.")
        size, lo_mb, hi_mb = None, 0.0, 0.0
        if f["bytes_min"] is not None and f["bytes_max"] > f["bytes_min"]:
            # Slider ends are rounded outwards, so "untouched" means no size filter at all.
            lo_mb, hi_mb = math.floor(f["bytes_min"] / 2**20 * 100) / 100, math.ceil(f["bytes_max"] / 2**20 * 100) / 100
            size = st.slider("File size (MB)", min_value=lo_mb, max_value=hi_mb, value=(lo_mb, hi_mb), step=0.01, key="f_size")
        cameras = st.multiselect("Camera", f["cameras"], key="f_cameras") if f["cameras"] else []
    taken = tuple(taken) if isinstance(taken, (tuple, list)) else ((taken,) if isinstance(taken, date) else ())
    flt = vsearch.Filter(
        folders=tuple(folders), cameras=tuple(cameras),
        taken_from=taken[0] if taken else None, taken_to=taken[1] if len(taken) > 1 else (taken[0] if taken else None),
        min_bytes=int(size[0] * 2**20) if size and size[0] > lo_mb else None,
        max_bytes=int(size[1] * 2**20) if size and size[1] < hi_mb else None)
    if not flt.is_empty():
        st.sidebar.caption("same as")
        st.sidebar.code(for_terminal(f'--where "{flt.sql()}"'), language=None)  # a code block shows text as it is
    return flt


def rerank_widgets(col: "vsearch.Collection") -> tuple[bool, int | None]:
    rr = col.reranker
    if rr is None:
        st.sidebar.caption("No reranker for this model.")
        return False, None
    on = st.sidebar.toggle("Rerank with the ITM cross-encoder", key="rerank",
                           help="Reorders the dual encoder's top k by a model that looks at words and image regions together.")
    k = st.sidebar.select_slider("Rerank depth k", [8, 16, 32, 64], value=rr.default_k if rr.default_k in (8, 16, 32, 64) else 16,
                                 key="rerank_k", disabled=not on)
    return on, k


# --- results ---------------------------------------------------------------------------------
def _select(id_: int) -> None:
    st.session_state["selected"] = id_


def _like(id_: int) -> None:
    st.session_state["like"] = id_
    st.session_state["selected"] = None


def show_grid(col: "vsearch.Collection", hits: list) -> None:
    if not hits:
        st.info("Nothing found. Loosen the filters, or describe the photo differently.")
        return
    for start in range(0, len(hits), GRID_COLUMNS):
        cells = st.columns(GRID_COLUMNS)
        for cell, h in zip(cells, hits[start:start + GRID_COLUMNS]):
            with cell:
                try:
                    st.image(str(col.thumbnail(h.id, THUMB)), width="stretch")
                except vsearch.VsearchError as e:
                    say(st.warning, e)
                score = f"{h.score:.3f}" + (f" · itm {h.rerank_score:.2f}" if h.rerank_score is not None else "")
                when = f" · {h.taken_at[:10]}" if h.taken_at else ""
                moment = f" ▶ {clock(h.moment_s)}" if h.moment_s is not None else ""
                also = "".join(f" + {for_markdown(Path(c).suffix)}" for c in h.companions)
                more = f" · +{len(h.near_duplicates)} near duplicates" if h.near_duplicates else ""
                st.caption(f"**{for_markdown(h.relpath.rsplit('/', 1)[-1])}**{moment}{also}  \n{score}{when}{more}")
                a, b = st.columns(2)
                a.button("View", key=f"view-{h.id}", on_click=_select, args=(h.id,), width="stretch")
                b.button("Similar", key=f"like-{h.id}", on_click=_like, args=(h.id,), width="stretch",
                         help="More like this")


def show_detail(col: "vsearch.Collection") -> None:
    id_ = st.session_state.get("selected")
    if id_ is None:
        return
    try:
        rows = col.metadata(id_)
        path = col.file_path(id_)
        large = col.thumbnail(id_, LARGE)
    except vsearch.VsearchError as e:
        say(st.warning, e)
        return
    files = [x for x in rows if not x.get("companion")] or rows
    companions = [x for x in rows if x.get("companion")]
    r = files[0]
    with st.container(border=True):
        left, right = st.columns([3, 2])
        left.image(str(large), width="stretch")
        if r.get("frame_ms") is not None:  # a video: played from the moment that matched
            left.video(str(path), start_time=int(r["frame_ms"] // 1000))
        with right:
            st.subheader(for_markdown(path.name) + (f" ▶ {clock(r['frame_ms'] / 1000)}" if r.get("frame_ms") is not None else ""))
            st.code(for_terminal(str(path)), language=None)
            shown = [(k, v) for k, v in r.items() if k not in ("mtime_ns", "digest", "root", "path", "companion") and v is not None]
            st.table({"field": [k for k, _ in shown], "value": [for_markdown(str(v)) for _, v in shown]})
            if len(files) > 1:
                st.caption("Same content also at: " + ", ".join(for_markdown(f"{x['root']}/{x['path']}") for x in files[1:]))
            if companions:
                st.caption("Files of this photo: " + ", ".join(for_markdown(f"{x['root']}/{x['path']}") for x in companions))
            c1, c2 = st.columns(2)
            c1.button("More like this", key="detail-like", on_click=_like, args=(id_,))
            c2.button("Close", key="detail-close", on_click=_select, args=(None,))


# --- pages -----------------------------------------------------------------------------------
def search_page(col: "vsearch.Collection", flt: "vsearch.Filter", rerank: bool, rerank_k: int | None) -> None:
    st.title("Search photos")
    pairs = bool(col.info(disk_usage=False).get("duplicate_pairs"))
    collapse = st.sidebar.toggle("One photo per group of near duplicates", value=pairs, key="collapse", disabled=not pairs,
                                 help="Each group of copies and edits of one photo is shown once, as its keeper "
                                      "(see the Duplicates page).") and pairs
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    q = left.text_input("Describe a photo", key="query", placeholder="a dog running on the beach")
    upload = right.file_uploader("…or search by an example image", key="upload",
                                 type=["jpg", "jpeg", "png", "webp", "heic", "tif", "tiff", "bmp", "dng", "cr2", "cr3", "orf",
                                       "rw2", "raf"])  # RAWs known by their signature
    k = st.sidebar.select_slider("Results", [10, 20, 30, 50, 100], value=20, key="k")
    every = bool(col.frames) and st.sidebar.toggle("Every moment of a video", key="every_moment",
                                                   help="Off: each video once, at its best moment. On: every matching moment.")
    like = st.session_state.get("like")
    try:
        if like is not None:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.image(str(col.thumbnail(like, THUMB)), width=96)
                st.markdown("**More like this photo**")
                st.button("Clear", key="clear-like", on_click=_like, args=(None,))
            hits = col.search(like=like, k=k, where=flt, every_moment=every, collapse_duplicates=collapse)
        elif upload is not None:
            with st.spinner("Encoding the image (the first time loads the image model)…"):
                vector = upload_vector(col, col.info(disk_usage=False)["fingerprint"], upload.getvalue())
            hits = col.search(vector=vector, k=k, where=flt, every_moment=every, collapse_duplicates=collapse)
        elif q.strip():
            with st.spinner("Reranking…" if rerank else "Searching…", show_time=rerank):
                hits = col.search(q, k=k, where=flt, rerank=rerank, rerank_k=rerank_k, every_moment=every,
                                  collapse_duplicates=collapse)
        else:
            st.caption("Type a description, drop an image, or press **Similar** on any photo.")
            return
    except vsearch.VsearchError as e:
        say(st.error, e)
        return
    show_detail(col)
    show_grid(col, hits)


def texts_page(col: "vsearch.Collection", rerank: bool, rerank_k: int | None) -> None:
    st.title("Image → text")
    n_texts = col.info(disk_usage=False)["counts"].get("texts", 0)
    if not n_texts:
        st.info("This collection has no text corpus yet. Add one (one text per line) with\n\n"
                "    vsearch texts add captions.txt")
        return
    upload = st.file_uploader("Image", type=["jpg", "jpeg", "png", "webp", "heic"], key="texts_upload")
    selected = st.session_state.get("selected")
    try:
        if upload is not None:
            img = decode_upload(col, upload.getvalue())
            st.image(img, width=320)
            with st.spinner("Encoding the image…"):
                hits = col.search_texts(img, k=10, rerank=rerank, rerank_k=rerank_k)
        elif selected is not None:
            st.image(str(col.thumbnail(selected, THUMB)), width=320)
            hits = col.search_texts(like=selected, k=10, rerank=rerank, rerank_k=rerank_k)
        else:
            st.caption(f"Upload an image, or press **View** on a search result, to find its best texts among {n_texts:,}.")
            return
    except vsearch.VsearchError as e:
        say(st.error, e)
        return
    st.dataframe([{"score": round(h.score, 3), **({"itm": round(h.rerank_score, 2)} if h.rerank_score is not None else {}),
                   "text": h.text, "source": h.source} for h in hits], hide_index=True, width="stretch")


def eval_page(home: str | None) -> None:
    import pandas as pd

    st.title("Evaluation")
    runs = vsearch.eval_results(home)
    if not runs:
        st.info("No evaluation yet. Run one, e.g.\n\n    vsearch eval ../shared/data/flickr8k --split dev --rerank --sweep 0,8,16,32,64")
        return
    latest: dict = {}
    for r in runs:  # oldest first: later runs of the same model and split win
        latest[(r["model"], r["split"])] = r
    rows, bars = [], []
    for (model, split), r in latest.items():
        variants = [("dual encoder", r)]
        if r.get("rerank"):
            variants.append((f"rerank k={r['rerank']['k']}", r["rerank"]))
        for label, v in variants:
            row = {"model": model, "split": split, "scoring": label, "images": r["n_images"], "evaluated": r["evaluated_at"][:16]}
            for d, short in (("text_to_image", "t→i"), ("image_to_text", "i→t")):
                for kk in ("R@1", "R@5", "R@10"):
                    if v.get(d):
                        row[f"{short} {kk}"] = round(v[d][kk], 1)
                        bars.append({"run": f"{model} {split} {label}", "metric": f"{short} {kk}", "recall": v[d][kk]})
            rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if bars:
        st.subheader("Recall@K, with and without rerank")
        chart = pd.DataFrame(bars).pivot(index="metric", columns="run", values="recall")
        order = [f"{d} R@{k}" for d in ("t→i", "i→t") for k in (1, 5, 10)]
        st.bar_chart(chart.reindex([m for m in order if m in chart.index]), stack=False, sort=False)
    sweeps = [(key, r["sweep"]) for key, r in latest.items() if r.get("sweep")]
    for (model, split), sweep in sweeps:
        st.subheader(f"Rerank depth sweep — {for_markdown(model)}, {for_markdown(split)}")
        df = pd.DataFrame([{"k": s["k"], "t→i R@1": s["text_to_image"]["R@1"], "i→t R@1": s["image_to_text"]["R@1"],
                            "latency ms/query": s.get("latency_ms")} for s in sweep])
        st.line_chart(df.set_index("k")[["t→i R@1", "i→t R@1"]])
        st.dataframe(df, hide_index=True)


def main() -> None:
    st.set_page_config(page_title="vsearch", page_icon="🔎", layout="wide")
    t0 = time.perf_counter()
    try:
        render()
    finally:  # server-side time of this interaction (benchmarks/ui.py reads it)
        st.session_state["_script_ms"] = (time.perf_counter() - t0) * 1000


def render() -> None:
    args = _cli_args()
    from vsearch.store.home import index_home

    home = str(index_home(args.home).resolve())  # the cache key names the folder, not "whatever --home defaulted to"
    page = st.sidebar.radio("Page", ["Search", "Image → text", "Duplicates", "Evaluation"], key="page", horizontal=True,
                            label_visibility="collapsed")
    if page == "Evaluation":
        eval_page(home)
        return
    col = pick_collection(home, args.collection, args.reranker)
    if col is None:
        return
    if page == "Duplicates":
        from vsearch.ui.duplicates_page import duplicates_page

        duplicates_page(col, vsearch.DUPLICATE_THRESHOLD)
        return
    rerank, rerank_k = rerank_widgets(col)
    if page == "Search":
        search_page(col, filter_widgets(col), rerank, rerank_k)
    else:
        texts_page(col, rerank, rerank_k)


if __name__ == "__main__":  # Streamlit runs this file as a script
    main()
