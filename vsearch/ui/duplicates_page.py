"""The Duplicates page of the app (app.py): a collection's near-duplicate groups, side by side, the
suggested keeper first with the rule that chose it. Nothing is deleted or moved: the page only shows.

Names and EXIF strings are shown through vsearch.escape.for_markdown, as everywhere in the app."""
from __future__ import annotations

import streamlit as st

import vsearch
from vsearch.escape import for_markdown

PER_PAGE = 20   # groups a page shows
PER_ROW = 6     # photos side by side
THUMB = 320
HOW = {"keeper": "keeper", "identical": "identical file", "vectors": "looks the same", "pixels": "same picture",
       "crop": "crop of it"}


def duplicates_page(col: "vsearch.Collection", default: float) -> None:
    st.title("Near duplicates")
    if not col.info(disk_usage=False).get("duplicate_pairs"):
        st.info("This collection was made before vsearch found near duplicates. Find them with\n\n"
                f"    vsearch reindex --collection {col.name}")
        return
    threshold = st.sidebar.slider("Similarity threshold", 0.75, 1.0, value=default, step=0.01, key="dup_threshold",
                                  help="The cosine from which two photos' vectors say they are the same photo (when "
                                       "their thumbnails look alike too). Re-saved, resized, re-toned copies and crops "
                                       "are found by their pixels whatever it is.")
    try:
        groups = col.duplicates(None if threshold == default else threshold)
    except vsearch.VsearchError as e:
        st.error(for_markdown(str(e)))
        return
    files = sum(len(g.members) for g in groups)
    st.caption(f"**{len(groups):,}** groups, {files:,} files ({files - len(groups):,} beside their keepers). "
               "vsearch never deletes or moves a photo: the keeper is a suggestion.")
    if not groups:
        return
    pages = (len(groups) + PER_PAGE - 1) // PER_PAGE
    page = st.number_input("Page", 1, pages, 1, key="dup_page") if pages > 1 else 1
    for n, g in enumerate(groups[(page - 1) * PER_PAGE:page * PER_PAGE], (page - 1) * PER_PAGE + 1):
        with st.container(border=True):
            st.markdown(f"**Group {n}** · {len(g.members)} files · keeper chosen by *{for_markdown(g.rule)}*"
                        + (f" ({for_markdown(g.compared)})" if g.compared else ""))
            for start in range(0, len(g.members), PER_ROW):
                for cell, m in zip(st.columns(PER_ROW), g.members[start:start + PER_ROW]):
                    with cell:
                        try:
                            st.image(str(col.thumbnail(m.id, THUMB)), width="stretch")
                        except vsearch.VsearchError as e:
                            st.warning(for_markdown(str(e)))
                        size = f"{m.width}×{m.height}" if m.width else ""
                        sim = "" if m.keeper else f" · {m.similarity:.3f}"
                        st.caption(f"{'★ ' if m.keeper else ''}**{for_markdown(m.relpath.rsplit('/', 1)[-1])}**  \n"
                                   f"{HOW.get(m.how, for_markdown(m.how))}{sim}  \n{size} · {(m.date or '')[:10]}")
