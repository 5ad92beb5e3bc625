"""Run every ``benchmarks/bench_*.py`` (or the ones named) and write their results.

Each benchmark module defines ``run() -> dict`` returning flat, JSON-serialisable
figures. Each runs in its own subprocess so peak-memory readings (ru_maxrss) belong
to that benchmark alone. Results: ``benchmarks/results/<name>.json`` plus a
combined ``benchmarks/results/summary.md``.

    python -m benchmarks                 # all
    python -m benchmarks simulator ingest
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def run_one(name: str) -> dict:
    """Run one benchmark in a child process; returns its figures plus run facts."""
    code = (
        "import json, sys, importlib\n"
        f"mod = importlib.import_module('benchmarks.bench_{name}')\n"
        "json.dump(mod.run(), sys.stdout)\n"
    )
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent
    )
    wall = time.perf_counter() - started
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark {name!r} failed with exit code {proc.returncode}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": __import__("os").cpu_count(),
        "python": platform.python_version(),
        "bench_wall_s": round(wall, 2),
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"subset of: {', '.join(available())}")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = ["# Benchmark results", ""]
    for name in names:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        result = run_one(name)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        lines += [f"## {name} ({result['measured_at']}, {result['cpu_count']} cores)", ""]
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in result["figures"].items()]
        lines.append("")
        for key, value in result["figures"].items():
            print(f"   {key:<45} {value}")
    if not args.names:
        (RESULTS / "summary.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
