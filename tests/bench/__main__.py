"""`python -m tests.bench [NAME ...]`: run each benchmark module's `main()` in turn.

A benchmark is a module here with `async def main() -> None` that starts what it measures,
prints its figures (as ratios measured in the same run) and stops it.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
import time

import tests.bench as package
from tests.bench import _results


def discover() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def run(names: list[str]) -> int:
    available = discover()
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"bench: unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    if not chosen:
        print("bench: no benchmarks yet (add a module with `async def main()` to tests/bench/)")
        return 0
    for name in chosen:
        module = importlib.import_module(f"tests.bench.{name}")
        print(f"== {name}", flush=True)
        began = time.perf_counter()
        asyncio.run(module.main())
        figures = _results.collected(name)
        if figures:
            _results.save(name, figures)
            print(f"== {name}: {len(figures)} figures saved to {_results.RESULTS}", flush=True)
        print(f"== {name} done in {time.perf_counter() - began:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
