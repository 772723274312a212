"""Load: the FastAPI example driven from a second process on loopback.

Starts ``examples/fastapi_service.py`` with uvicorn on 127.0.0.1, then a separate client
process sends single-record requests with a fixed concurrency for a bounded time and a
bounded count, to the guarded endpoints and to the bare model behind the same app. The
guard (the demo's full stack) has a SQLite review queue at its default durability
(``synchronous=FULL``: a case is committed to disk before the response; concurrent
requests share a commit): each request holds one row the model is sure of and one it is
not, so every request enqueues a case. Prints throughput, p50/p99 latency and errors per
endpoint, and checks that no review case was lost: the cases in the queue file are exactly
the review ids the clients received (withheld rows and audits). ``--queue memory`` runs
the same with the in-memory queue (nothing durable, nothing to check): the ceiling that
shows what the durable queue costs.

Run: ``python benchmarks/load.py [--seconds 10] [--concurrency 8] [--max-requests 20000]
[--queue sqlite|memory]``
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import table  # noqa: E402

CLIENT = r"""
import json, sys, threading, time
import httpx
url, body = sys.argv[1], sys.argv[5]
seconds, concurrency, limit = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
latencies, errors, lock = [], [0], threading.Lock()
withheld, ids = [0], set()
deadline = time.monotonic() + seconds
count = [0]
def worker():
    with httpx.Client(timeout=10.0) as client:
        while time.monotonic() < deadline:
            with lock:
                if count[0] >= limit:
                    return
                count[0] += 1
            t0 = time.perf_counter()
            try:
                r = client.post(url, content=body, headers={"content-type": "application/json"})
                ok = r.status_code == 200
                rows = r.json().get("decisions", []) if ok else []
            except Exception:
                ok, rows = False, []
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if not ok:
                    errors[0] += 1
                for row in rows:
                    withheld[0] += bool(row["abstained"])
                    if row["review_id"] is not None:  # withheld rows and audit samples
                        ids.add(row["review_id"])
start = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
print(json.dumps({"latencies": latencies, "errors": errors[0], "elapsed": elapsed,
                  "withheld": withheld[0], "review_ids": sorted(ids)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the service did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument(
        "--queue",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="the review queue: a SQLite file (default) or memory (nothing durable)",
    )
    args = parser.parse_args()

    import tempfile

    from guardrails.apps.demo import build_demo_guard

    g, data = build_demo_guard(log_file=io.StringIO())
    X = data["X_pool"]
    conf = g.decide(X).confidence
    sure, unsure = X[int(conf.argmax())], X[int(conf.argmin())]
    body = json.dumps({"rows": [sure.tolist(), unsure.tolist()]})
    folder = tempfile.mkdtemp(prefix="guardrails-load-")
    queue_path = Path(folder) / "review.db"
    server_log = (Path(folder) / "server.log").open("w")
    port = free_port()
    queue_args = ["--review-queue", str(queue_path)] if args.queue == "sqlite" else []
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "fastapi_service.py"),
            "--port",
            str(port),
            *queue_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=server_log,  # the demo guard logs one JSON line per request
    )
    rows = []
    rates: dict[str, float] = {}
    returned: set[str] = set()
    withheld = 0
    try:
        wait_ready(port)
        for path in ("/bare", "/decide-sync", "/decide"):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CLIENT,
                    f"http://127.0.0.1:{port}{path}",
                    str(args.seconds),
                    str(args.concurrency),
                    str(args.max_requests),
                    body,
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=args.seconds + 60,
            )
            result = json.loads(out.stdout)
            lat = result["latencies"]
            withheld += result["withheld"]
            rates[path] = len(lat) / result["elapsed"]
            returned |= set(result["review_ids"])
            rows.append(
                [
                    path,
                    str(len(lat)),
                    f"{len(lat) / result['elapsed']:8.0f}/s",
                    f"{percentile(lat, 0.50) * 1e3:7.2f} ms",
                    f"{percentile(lat, 0.99) * 1e3:7.2f} ms",
                    str(result["errors"]),
                    "-" if path == "/bare" else str(result["withheld"]),
                ]
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
        server_log.close()
    rows.append([f"review queue ({args.queue})", "", "", "", "", "", ""])
    rows.append(["  withheld rows returned", str(withheld), "", "", "", "", ""])
    rows.append(["  review ids returned", str(len(returned)), "", "", "", "", ""])
    lost = 0
    if args.queue == "sqlite":
        stored = _stored_ids(queue_path)
        lost = len(returned - stored)
        rows.append(["  cases in the queue file", str(len(stored)), "", "", "", "", ""])
        rows.append(["  lost (returned, not stored)", str(lost), "", "", "", "", ""])
        rows.append(["  stored, never returned", str(len(stored - returned)), "", "", "", "", ""])
    else:
        stored = returned
        rows.append(["  lost: not checked (memory)", "", "", "", "", "", ""])
    print(
        table(
            f"Load on loopback: {args.concurrency} concurrent clients, two-row requests "
            "(rows the guard withholds), "
            f"{args.seconds:g} s or {args.max_requests} requests per endpoint",
            ["endpoint", "requests", "throughput", "p50", "p99", "errors", "withheld"],
            rows,
        )
    )
    print()
    print(service_ratios(rates, DURABILITY if args.queue == "sqlite" else DURABILITY_MEMORY))
    if lost or stored != returned:
        raise SystemExit(f"{lost} review cases lost; {len(stored - returned)} never returned")


DURABILITY = (
    "review queue: SQLite file, WAL, synchronous=FULL (the default: each queued case is "
    "committed to disk before the response; concurrent requests share a commit)"
)
DURABILITY_MEMORY = "review queue: in memory (nothing durable; the ceiling, not a way to serve)"


def service_ratios(rates: dict[str, float], durability: str = DURABILITY) -> str:
    """Throughput of the guarded endpoints against the bare one, with the goal (>= 0.8x)."""
    bare = rates.get("/bare", 0.0)
    out = []
    for path, label in (("/decide", "async"), ("/decide-sync", "sync")):
        ratio = rates.get(path, 0.0) / bare if bare else float("nan")
        out.append(
            [
                f"FastAPI, demo's full guard ({label}) / bare endpoint",
                f"{ratio:5.2f}x",
                ">= 0.8x",
                "met" if ratio >= 0.8 else "not met",
            ]
        )
    return table(
        f"Service ratio (throughput, same run); {durability}",
        ["figure", "ratio", "goal", ""],
        out,
    )


def _stored_ids(path: Path) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM review_cases")}
    finally:
        conn.close()


if __name__ == "__main__":
    main()
