"""Start-up: `faasauth --help` against the floor `python -c "import click"`, side by side.

Runs both commands interleaved (so machine noise hits both alike) and prints medians and
the ratio. Target: ratio <= 1.30.

    python benchmarks/bench_startup.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TARGET = 1.30


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    faasauth = shutil.which("faasauth") or sys.exit("faasauth is not installed on PATH")
    floor = [sys.executable, "-c", "import click"]
    ours = [faasauth, "--help"]
    # Byte-code as an installed package has it: with PYTHONDONTWRITEBYTECODE=1 an editable
    # install would recompile faasauth on every run, which no user pays.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="faasauth-bench-pycache-")
    for _ in range(3):  # warm the page cache and .pyc files
        timed(floor, env), timed(ours, env)
    floor_times, our_times = [], []
    for _ in range(args.runs):
        floor_times.append(timed(floor, env))
        our_times.append(timed(ours, env))
    f, o = statistics.median(floor_times), statistics.median(our_times)
    ratio = o / f
    print(f"python -c 'import click': median {f * 1000:.1f} ms")
    print(f"faasauth --help:          median {o * 1000:.1f} ms")
    print(f"ratio {ratio:.2f} (target <= {TARGET:.2f}): {'OK' if ratio <= TARGET else 'OVER'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
