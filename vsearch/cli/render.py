"""Tables the CLI prints. Everything shown comes from outside (file names, EXIF strings, texts)
and is printed as data: rich markup off, control characters escaped."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from ..escape import for_terminal
from ..search.hits import clock
from .common import human_bytes


def shown_path(hit, roots: list[str]) -> str:
    """A hit's path relative to its ingested folder; prefixed by the folder's name when the
    collection has several roots (the full path is in --json)."""
    rel = hit.relpath
    return f"{Path(hit.root).name}/{rel}" if len(roots) > 1 and hit.root else rel


def shown_date(hit) -> tuple[str, bool]:
    """(date, from the file) — the EXIF capture date, else the file's modification date."""
    if hit.taken_at:
        return hit.taken_at[:10], False
    return (hit.mtime or "")[:10], bool(hit.mtime)


def shown_file(hit, roots: list[str]) -> str:
    """The path, with a video's moment ("clip.mp4 @ 0:04") and a photo's companions ("+ .NEF")."""
    text = shown_path(hit, roots)
    if hit.moment_s is not None:
        text += f" @ {clock(hit.moment_s)}"
    if hit.companions:
        text += " + " + ", ".join(Path(c).suffix or Path(c).name for c in hit.companions)
    return text


def hits_table(hits: list, roots: list[str]) -> Table:
    table = Table(show_header=True, header_style="bold")
    for c in ("score", "path", "size", "date"):
        table.add_column(c, overflow="fold")
    any_file_date = False
    for h in hits:
        dims = f"{h.width}x{h.height} " if h.width else ""
        date, from_file = shown_date(h)
        any_file_date |= from_file
        score = f"{h.score:.3f}" + (f" ({h.rerank_score:+.2f})" if h.rerank_score is not None else "")
        path = shown_file(h, roots) + (f"  (+{len(h.near_duplicates)} near duplicates)" if getattr(h, "near_duplicates", None) else "")
        table.add_row(score, for_terminal(path), dims + human_bytes(h.bytes), date + ("*" if from_file else ""))
    if any_file_date:
        table.caption = "* the file's date (no EXIF capture date)"
    return table


HOW = {"keeper": "keeper", "identical": "identical file", "vectors": "looks the same", "pixels": "same picture",
       "crop": "crop of it"}


def duplicates_table(groups: list, roots: list[str]) -> Table:
    """One block of rows per near-duplicate group (search/duplicates.py), the keeper first."""
    table = Table(show_header=True, header_style="bold")
    for c in ("group", "path", "size", "date", "similarity", "why"):
        table.add_column(c, overflow="fold")
    for n, g in enumerate(groups, 1):
        for m in g.members:
            path = shown_path(m, roots)
            dims = f"{m.width}x{m.height} " if m.width else ""
            why = f"keeper: {g.rule}" + (f" ({g.compared})" if g.compared else "") if m.keeper else HOW.get(m.how, m.how)
            table.add_row(str(n) if m.keeper else "", for_terminal(path), dims + human_bytes(m.bytes), (m.date or "")[:10],
                          "" if m.keeper else f"{m.similarity:.3f}", for_terminal(why))
        table.add_section()
    return table


def text_hits_table(hits: list) -> Table:
    table = Table(show_header=True, header_style="bold")
    for c in ("score", "text"):
        table.add_column(c)
    for h in hits:
        table.add_row(f"{h.score:.3f}" + (f" ({h.rerank_score:+.2f})" if h.rerank_score is not None else ""), for_terminal(h.text))
    return table


def info_table(i: dict[str, Any]) -> Table:
    t = Table(title=for_terminal(i["name"]), show_header=False)
    c = i["counts"]
    t.add_row("model", f"{i['model']} ({i['fingerprint']}, {i['dim']}-d"
              + (f", {i['precision']} image encoder" if i.get("precision", "fp32") != "fp32" else "") + ")")
    for key in ("images", "vectors", "texts", "errors"):
        t.add_row(key, str(c.get(key, 0)))
    for key, value in index_rows(i["index"], i.get("legacy_index", False)):
        t.add_row(key, value)
    t.add_row("hubness", "stored (text queries corrected)" if i["hubness_correction"]
              else "none (plain cosine; `vsearch reindex` adds it if the model has one)")
    t.add_row("roots", "\n".join(for_terminal(r) for r in i["roots"]))
    t.add_row("updated", f"{i['updated']} (generation {i['generation']})")
    t.add_row("disk", human_bytes(i["disk_bytes"]))
    return t


def index_rows(idx: dict[str, Any], legacy: bool = False) -> list[tuple[str, str]]:
    """The index record (pipeline/derived/index.py) as info rows: kind and parameters, why it was
    chosen, the recall and latency measured when it was built, its memory."""
    params = " ".join(f"{k}={v}" for k, v in (idx.get("params") or {}).items() if v is not None)
    requested = idx.get("requested")
    rows = [("index", f"{idx.get('type')} {params}".strip() + (f" (asked: {requested})" if requested else ""))]
    if legacy:
        rows.append(("", "format-2 file, searched exactly; the next ingest or `vsearch reindex` rebuilds it"))
    if idx.get("chosen"):
        rows.append(("chosen", str(idx["chosen"])))
    recall = next((v for k, v in idx.items() if k.startswith("recall_at_") and isinstance(v, dict)), None)
    if recall:
        k = next(k for k in idx if k.startswith("recall_at_")).removeprefix("recall_at_")
        src = (idx.get("queries") or {}).get("text_source", "")
        src = "the model's caption vectors" if src == "given" else src
        rows.append((f"recall@{k}", ", ".join(f"{t} {v:.3f}" for t, v in sorted(recall.items(), reverse=True))
                     + f" vs exact (target {idx.get('target_recall')}" + (f"; text queries: {src}" if src else "") + ")"))
    lat = idx.get("latency_ms") or {}
    if lat.get("p50") is not None:
        rows.append(("latency", f"p50 {lat['p50']} ms, p95 {lat.get('p95')} ms (one query, when built)"))
    mem = idx.get("memory") or {}
    if mem.get("index_bytes") is not None:
        rows.append(("index memory", f"{human_bytes(mem['index_bytes'])} of a {human_bytes(mem.get('budget') or 0)} budget"))
    if idx.get("updates"):
        rows.append(("updated", f"{idx['updates']} ingest(s) added/removed vectors in place since it was built"))
    return rows


def recall_row(d: dict[str, float]) -> list[str]:
    return [f"{d[k]:.1f}" for k in ("R@1", "R@5", "R@10")]


def eval_tables(r) -> list[Table]:
    t = Table(title=f"{r.model} on {r.split} ({r.n_images} images, {r.n_texts} texts)")
    for c in ("direction", "R@1", "R@5", "R@10"):
        t.add_column(c)
    for name, d in (("text -> image", r.text_to_image), ("image -> text", r.image_to_text)):
        if d:
            t.add_row(name, *recall_row(d))
    for name, d in (r.extra.get("uncorrected") or {}).items():
        t.add_row(f"{name.replace('_to_', ' -> ').replace('_', ' ')} (no hubness correction)", *recall_row(d))
    rr = r.extra.get("rerank")
    if rr:
        for name in ("text_to_image", "image_to_text"):
            t.add_row(f"{name.replace('_to_', ' -> ').replace('_', ' ')} (rerank k={rr['k']})", *recall_row(rr[name]))
    tables = [t]
    if r.extra.get("sweep"):
        sw = Table(title="rerank depth sweep (k = 0: dual encoder alone)")
        for c in ("k", "t->i R@1", "t->i R@5", "t->i R@10", "i->t R@1", "i->t R@5", "i->t R@10", "latency ms/query"):
            sw.add_column(c)
        for row in r.extra["sweep"]:
            sw.add_row(str(row["k"]), *recall_row(row["text_to_image"]), *recall_row(row["image_to_text"]),
                       f"{row['latency_ms']:.1f}")
        tables.append(sw)
    return tables
