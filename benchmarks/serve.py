"""`vsearch serve` under load: text queries over HTTP in a closed loop with 1, 8 and 32 concurrent
clients, against the same queries run in-process (Collection.search from as many threads) in the
same run, in alternating rounds, so the service's overhead is a ratio; then an open loop (150 queries/s arriving, up to
32 connections) for the latency at that rate; then 32 clients while `vsearch ingest` commits into
the collection every 10 s (errors counted, generations served).

    python benchmarks/serve.py [--images 100000] [--seconds 20] [--clients 1,8,32] [--rate 150] [--commit-seconds 40]

In a closed loop with N clients, latency is N / throughput on average (Little's law): 32 clients
at 150 q/s wait 213 ms per query whatever the server does, so the latency at a given rate is
measured in the open loop, from each query's arrival (queueing included).

Data: 100k vectors drawn around the real align-lite vectors of the Flickr8k photos
(benchmarks/index.py's generator, photo vectors cached under ./.cache/index-bench) in a committed
collection with vector shards (benchmarks/query.py's make_collection), so a real ingest can commit
over it. Queries: real Flickr8k captions, each used once per measurement (the text cache is on, as
it is by default, but sees no repeats: every query pays its text encoding). The server is the real
`vsearch serve` in its own process; the load comes from a minimal asyncio HTTP/1.1 client with
keep-alive in this process, which shares the machine's cores with the server (the in-process
figures have no client to feed). Latency is the client's: from sending a request to its last byte.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("VSEARCH_ORT_THREADS", "1")  # in-process as in the server: one thread per query

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flickr import FLICKR, add_flickr_option  # noqa: E402
from index import Collection as Around, flickr_vectors  # noqa: E402
from query import make_collection  # noqa: E402

NAME = "served"


def captions(flickr: Path) -> list[str]:
    with open(flickr / "captions.csv", newline="") as f:
        texts = [r["caption"].strip() for r in csv.DictReader(f)]
    rng = np.random.default_rng(7)
    unique = sorted(set(t for t in texts if t))
    return [unique[i] for i in rng.permutation(len(unique))]


def build(home: Path, n: int) -> None:
    from vsearch.models import load_model

    data = flickr_vectors()
    ids, vecs = Around(data["images"], n).all()
    make_collection(home, n, load_model(), vectors=(ids, vecs), shards=True, name=NAME)


# --------------------------------------------------------------------------- load
def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def summary(lat: list[float], errors: int, seconds: float) -> dict:
    return {"qps": len(lat) / seconds, "p50": percentile(lat, 50), "p99": percentile(lat, 99), "errors": errors,
            "n": len(lat)}


def in_process(col, queries: list[str], clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    nxt = iter(range(len(queries) * 100))
    deadline = time.perf_counter() + seconds

    def run() -> None:
        mine = []
        while time.perf_counter() < deadline:
            q = queries[next(nxt) % len(queries)]
            t = time.perf_counter()
            try:
                if len(col.search(q, k=10)) != 10:
                    raise RuntimeError("short")
                mine.append((time.perf_counter() - t) * 1000)
            except Exception as e:  # noqa: BLE001 - counted
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
        with lock:
            lat.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors, time.perf_counter() - start


class Conn:
    """One keep-alive HTTP/1.1 connection sending search bodies (reconnects after an error)."""

    def __init__(self, port: int):
        self.port, self.reader, self.writer = port, None, None
        self.head = (f"POST /v1/collections/{NAME}/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: application/json\r\nContent-Length: ").encode()

    async def search(self, body: bytes) -> str | None:
        """None when 10 hits came back, else what went wrong."""
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
            status = int((await self.reader.readline()).split()[1])
            length = 0
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = await self.reader.readexactly(length)
            if status != 200 or payload.count(b'"id":') != 10:
                return f"{status} {payload[:200]!r}"
            return None
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
            if self.writer is not None:
                self.writer.close()
            self.reader = self.writer = None
            return f"{type(e).__name__}: {e}"


def _bodies(queries: list[str]):
    encoded = [json.dumps({"text": q, "k": 10}).encode() for q in queries]
    i = 0
    while True:
        yield encoded[i % len(encoded)]
        i += 1


def over_http(port: int, queries: list[str], clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    """Closed loop: each client sends its next query when the last one is answered."""
    bodies = _bodies(queries)
    lat: list[float] = []
    errs: list[str] = []

    async def client(deadline: float) -> None:
        conn = Conn(port)
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            err = await conn.search(next(bodies))
            if err:
                errs.append(err)
            else:
                lat.append((time.perf_counter() - t) * 1000)

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*[client(start + seconds) for _ in range(clients)])
        return time.perf_counter() - start

    return lat, errs, asyncio.run(main())


def paired(col, port: int, queries: list[str], clients: int, seconds: float, rounds: int) -> tuple[dict, dict, list[str]]:
    """In-process and over HTTP in turn, `rounds` times each (so that the load others put on a shared
    machine falls on both alike), each round on queries neither side has seen."""
    runs: dict[str, list] = {"local": [[], [], 0.0], "remote": [[], [], 0.0]}
    at = 0
    for _ in range(rounds):
        chunk = queries[at:] + queries[:at]
        used = 0
        for side, fn in (("local", lambda: in_process(col, chunk, clients, seconds / rounds)),
                         ("remote", lambda: over_http(port, chunk, clients, seconds / rounds))):
            lat, errs, elapsed = fn()
            runs[side][0] += lat
            runs[side][1] += errs
            runs[side][2] += elapsed
            used = max(used, len(lat) + len(errs) + clients)
        at = (at + used) % len(queries)
    (llat, lerr, lt), (rlat, rerr, rt) = runs["local"], runs["remote"]
    return summary(llat, len(lerr), lt), summary(rlat, len(rerr), rt), rerr + lerr


def open_loop(port: int, queries: list[str], rate: float, seconds: float, connections: int) -> tuple[dict, list[str]]:
    """Open loop: queries arrive at `rate` per second (Poisson) whatever the answers do, over up to
    `connections` connections; a query's latency counts from its arrival, queueing included."""
    bodies = _bodies(queries)
    rng = np.random.default_rng(3)
    lat: list[float] = []
    errs: list[str] = []

    async def main() -> float:
        arrivals: asyncio.Queue = asyncio.Queue()

        async def worker() -> None:
            conn = Conn(port)
            while (due := await arrivals.get()) is not None:
                err = await conn.search(next(bodies))
                if err:
                    errs.append(err)
                else:
                    lat.append((time.perf_counter() - due) * 1000)

        workers = [asyncio.create_task(worker()) for _ in range(connections)]
        start = due = time.perf_counter()
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            arrivals.put_nowait(due)
            due += rng.exponential(1.0 / rate)
        for _ in workers:
            arrivals.put_nowait(None)
        await asyncio.gather(*workers)
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    return summary(lat, len(errs), elapsed), errs


# --------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, extra: list[str]) -> subprocess.Popen:
    log = open(home / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "vsearch.cli", "serve", "--home", str(home), "--port", str(port), *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2))["status"] == "ok":
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"vsearch serve did not start:\n{(home / 'serve.log').read_text()[-3000:]}")


def healthz(port: int) -> dict:
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10))


def ingest_every(home: Path, flickr: Path, period: float, stop: threading.Event, log: list[dict]) -> None:
    """A real `vsearch ingest` into the served collection every `period` seconds, each adding a few
    new Flickr8k photos to a folder of its own (a root beside the synthetic rows)."""
    folder = home.parent / "incoming"
    folder.mkdir(exist_ok=True)
    photos = sorted((flickr / "images").glob("*.jpg"))
    env = dict(os.environ, VSEARCH_HOME=str(home))
    round_ = 0
    while not stop.is_set():
        started = time.perf_counter()
        for p in photos[round_ * 4:(round_ + 1) * 4]:
            shutil.copy(p, folder / p.name)
        r = subprocess.run([sys.executable, "-m", "vsearch.cli", "ingest", str(folder), "-c", NAME, "--json"], env=env,
                           capture_output=True, text=True)
        log.append({"round": round_, "code": r.returncode, "seconds": time.perf_counter() - started,
                    "error": r.stderr[-300:] if r.returncode else ""})
        round_ += 1
        stop.wait(max(0.0, period - (time.perf_counter() - started)))


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=20.0, help="per measurement (each side)")
    ap.add_argument("--rounds", type=int, default=4, help="in-process and HTTP alternate this many times")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--commit-seconds", type=float, default=40.0, help="length of the run with commits (0: skip)")
    ap.add_argument("--commit-every", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=150.0, help="arrivals/s of the open-loop run (0: skip)")
    ap.add_argument("--server-args", default="", help="extra `vsearch serve` options, e.g. '--threads 8'")
    ap.add_argument("--home", type=Path, help="keep the collection here (built once, reused)")
    add_flickr_option(ap)
    args = ap.parse_args()

    import faiss

    import vsearch

    home = args.home or Path(tempfile.mkdtemp(prefix="vsearch-serve-bench-")) / "indexes"
    if not (home / NAME / "manifest.json").is_file():
        t = time.perf_counter()
        build(home, args.images)
        print(f"built {args.images:,} vectors around Flickr8k in {time.perf_counter() - t:.0f} s under {home}")
    queries = captions(args.flickr)
    levels = [int(c) for c in args.clients.split(",")]
    port = free_port()
    server = start_server(home, port, args.server_args.split())
    faiss.omp_set_num_threads(1)  # as the server runs it: one thread per query (ONNX Runtime: see the top)
    col = vsearch.open_collection(NAME, home=home, text_cache=1000)
    col.search("warm up", k=10)
    info = col.info(disk_usage=False)
    print(f"collection: {info['counts']['images']:,} images, index {info['index']['type']}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{'clients':>7} | {'service q/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} | "
          f"{'in-process q/s':>14} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5}")
    try:
        for i, c in enumerate(levels):
            part = queries[(i * 7919) % len(queries):] + queries[:(i * 7919) % len(queries)]
            local, remote, errs = paired(col, port, part, c, args.seconds, args.rounds)
            print(f"{c:>7} | {remote['qps']:>11.1f} {remote['p50']:>7.1f} {remote['p99']:>7.1f} {remote['errors']:>6} | "
                  f"{local['qps']:>14.1f} {local['p50']:>7.1f} {local['p99']:>7.1f} | {remote['qps'] / local['qps']:>5.2f}"
                  + (f"   first error: {errs[0]}" if errs else ""), flush=True)
        if args.rate > 0:
            c = max(levels)
            part = queries[len(queries) // 3:]
            remote, errs = open_loop(port, part, args.rate, args.seconds, c)
            print(f"open loop, {args.rate:g} queries/s arriving (Poisson) over up to {c} connections: {remote['qps']:.1f} q/s answered, "
                  f"p50 {remote['p50']:.1f} ms, p99 {remote['p99']:.1f} ms (from arrival), {remote['errors']} errors"
                  + (f"; first error: {errs[0]}" if errs else ""), flush=True)
        if args.commit_seconds > 0:
            c = max(levels)
            before = healthz(port)["collections"][NAME]
            stop, log = threading.Event(), []
            writer = threading.Thread(target=ingest_every, args=(home, args.flickr, args.commit_every, stop, log))
            writer.start()
            part = queries[len(queries) // 2:]
            lat, errs, elapsed = over_http(port, part, c, args.commit_seconds)
            remote = summary(lat, len(errs), elapsed)
            stop.set()
            writer.join()
            after = healthz(port)["collections"][NAME]
            commits = [x for x in log if x["code"] == 0]
            print(f"with `vsearch ingest` committing every {args.commit_every:g} s, {c} clients, {args.commit_seconds:g} s: "
                  f"{remote['qps']:.1f} q/s, p50 {remote['p50']:.1f} ms, p99 {remote['p99']:.1f} ms, "
                  f"**{remote['errors']} errors** in {remote['n'] + remote['errors']:,} requests; "
                  f"{len(commits)} ingests committed (median {statistics.median([x['seconds'] for x in commits]) if commits else 0:.1f} s each), "
                  f"generation {before} -> {after}" + (f"; first error: {errs[0]}" if errs else "")
                  + "".join(f"; ingest failed: {x['error']}" for x in log if x["code"]))
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        hits = [line for line in metrics.splitlines() if line.startswith("vsearch_text_cache_hits_total")]
        print(f"text cache: {hits[0].split()[-1] if hits else '?'} hits; load average now {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
