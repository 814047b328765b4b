"""`vsearch info`, `list`, `reindex` and `texts add`: looking after collections."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..escape import for_terminal
from .common import CollOpt, HomeOpt, IndexOpt, JsonOpt, MaxMemoryOpt, handles_errors, out, parse_size, print_json
from .render import info_table

texts_app = typer.Typer(no_args_is_help=True, help="Manage a collection's text corpus (for image -> text search).")


@handles_errors
def info(
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    errors: bool = typer.Option(False, "--errors", help="List every file that could not be ingested, with its reason."),
    as_json: bool = JsonOpt,
) -> None:
    """Model, counts, index type, errors and disk size of a collection (all collections if several)."""
    from ..search import open_collection
    from ..store.home import list_collections

    names = [collection] if collection is not None else list_collections(home)
    if not names:
        open_collection(None, home, prefetch=False)  # raises the 'no collection' error
    infos = []
    for n in names:
        col = open_collection(n, home, prefetch=False)
        i = col.info()
        if errors:
            i["errors"] = col.store.errors().select(["path", "root", "reason"]).to_pylist()
        infos.append(i)
    if as_json:
        print_json(infos if len(infos) > 1 else infos[0])
        return
    for i in infos:
        out.print(info_table(i))
        for e in i.get("errors", []):
            out.print(for_terminal(f"{e['root']}/{e['path']}: {e['reason']}"))


@handles_errors
def reindex(
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    index: Optional[str] = IndexOpt,
    max_index_memory: Optional[str] = MaxMemoryOpt,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="The collection's model: needed only to rebuild a "
                                        "damaged manifest.json of a collection written before vsearch kept copies of it."),
    engine: str = typer.Option("local", "--engine", help="local: build the index in this process; ray: fill its parts "
                               "on a Ray cluster's nodes from the vector shards and merge them here (needs the `ray` "
                               "extra, and --home on storage every node sees; worth it for an IVF index of millions)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --engine ray: the cluster "
                                              "(default: $RAY_ADDRESS, else a local Ray instance)."),
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild a collection's derived files from what it stores (the vector shards, the texts) and
    repair it: damaged files are set aside in damaged/ (never deleted), a damaged manifest.json is
    rebuilt from the files of the newest complete generation, the images table is found again by
    hashing the files under its folders (nothing is re-encoded), and what could not be rebuilt is said. Also switches the index type, and adds the model's hubness correction to a
    collection made before it existed."""
    from ..pipeline.reindex import reindex as run

    r = run(collection, home, index, max_index_memory=parse_size(max_index_memory), model_name=model, engine=engine,
            ray_address=ray_address)
    if as_json:
        print_json(r)
    else:
        for line in r["repaired"]:
            out.print(f"repaired: {for_terminal(line)}")
        out.print(f"{for_terminal(r['collection'])}: {r['vectors']} vectors in a {r['index']['type']} index"
                  + (f", {r['texts']} texts" if r["texts"] else "")
                  + (", hubness correction stored" if r["hubness"] else "") + f" (generation {r['generation']})")
        if r.get("nodes"):
            out.print(f"index parts filled on {len(r['nodes'])} Ray node(s)")


@handles_errors
def list_(home: Optional[Path] = HomeOpt, as_json: bool = JsonOpt) -> None:
    """List the collections under the index home."""
    from ..store.home import index_home, list_collections

    names = list_collections(home)
    if as_json:
        print_json(names)
    else:
        out.print("\n".join(for_terminal(n) for n in names) if names else f"no collections under {index_home(home)}")


@texts_app.command("add")
@handles_errors
def texts_add(
    file: Path = typer.Argument(..., help="Plain text (one text a line) or CSV (uses a 'text' or 'caption' column); UTF-8."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add texts (captions, tags, phrases) to a collection's corpus for `vsearch query --image X --texts`."""
    from ..errors import VsearchError
    from ..pipeline.texts import add_texts
    from ..store.home import pick_collection

    name = pick_collection(collection, home)
    items = _read_texts(file)
    if not any(t.strip() for t in items):
        raise VsearchError(f"{file} holds no text")
    n = add_texts(items, name, home, source=file.name)
    if as_json:
        print_json({"collection": name, "added": len([t for t in items if t.strip()]), "texts": n})
    else:
        out.print(f"{for_terminal(name)}: text corpus now holds {n} texts")


def _read_texts(file: Path) -> list[str]:
    import csv

    from ..errors import VsearchError

    try:
        if file.suffix.lower() == ".csv":
            with open(file, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                column = next((c for c in ("text", "caption") if c in (reader.fieldnames or [])), None)
                if column is None:
                    raise VsearchError(f"{file} has no 'text' or 'caption' column (has: {reader.fieldnames})")
                return [r[column] or "" for r in reader]
        return file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise VsearchError(f"{file} is not UTF-8 text (byte {e.start}); convert it, e.g. with iconv -t UTF-8") from e
