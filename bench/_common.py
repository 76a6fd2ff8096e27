"""Shared helpers of the hand-run benchmarks (never imported by the application or by CI)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

BENCH_DB = "examenflow_bench"
PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DB}"


# ----------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def summary(samples_ms: list[float]) -> dict:
    return {
        "n": len(samples_ms),
        "median": statistics.median(samples_ms) if samples_ms else float("nan"),
        "p95": percentile(samples_ms, 95),
    }


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """A small plain-text table, right-aligned numbers."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    pairs = enumerate(zip(headers, widths, strict=True))
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in pairs))
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        pairs = enumerate(zip(r, widths, strict=True))
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


# ----------------------------------------------------------------------------- database


def recreate_database(name: str = BENCH_DB) -> str:
    """Drops and creates the benchmark database (never the tests' ``test``); returns its URL."""
    if name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to recreate database {name!r}")
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run([*PG_ADMIN, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True, env=env)
    subprocess.run([*PG_ADMIN, "-c", f"CREATE DATABASE {name}"], check=True, env=env)
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def quiet_logs() -> None:
    import logging

    # sync_index warns for every lane without a participant; the setup creates thousands.
    logging.getLogger("processes").setLevel(logging.ERROR)
    logging.getLogger("handlers").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def fast_hasher() -> None:
    from processes import accounts

    # Setup creates many accounts; argon2 at production cost would dominate it. Bearer tokens
    # (SHA-256) are what the benchmarks authenticate with.
    accounts.configure_hasher(time_cost=1, memory_cost=8, parallelism=1)




def machine_note(when: str) -> str:
    """Cores and load average: other work on the machine skews every figure, so print it."""
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"] * 3
    return f"[{when}] {os.cpu_count()} cores, load average {' '.join(load)} (1/5/15 min)"
