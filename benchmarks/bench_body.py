"""Large bodies: `faasauth invoke` against `curl -T` through the same sandbox gateway.

Starts the sandbox (faasauth.sandbox.Sandbox, in this process, on loopback), logs in with
its confidential client, and uploads a generated body of MIB MiB to the jwt_auth function
`env-auth` (which reads the body and answers its size). Interleaved, RUNS times each:

    pipe   cat big.bin | curl -T - ...          cat big.bin | faasauth invoke env-auth
    file   curl -T big.bin ...                  faasauth invoke env-auth < big.bin

faasauth's call is warm (token cached, function remembered): one request, with a copy of a
piped body kept in case the token is refused. Before that, one first call of each kind
(probe, exchange, retry: the body goes up twice) is timed, and the regular file's first
call runs with TMPDIR pointing nowhere, so a spooled copy would fail it. Wall times are
medians and include each process's start-up; peak RSS is faasauth's own (wait4, through a
small Python in between, as in bench_invoke.py). The sandbox's request log gives the
requests per call.

Targets (ratios of throughput to curl's with the same input, same run): pipe >= 0.5,
regular file >= 0.8 (against curl with the length known, its fastest form); peak RSS
<= 64 MiB in every faasauth run. Exits 1 when one is missed.

    python benchmarks/bench_body.py [--mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faasauth.sandbox import Sandbox

PIPE_TARGET = 0.5
FILE_TARGET = 0.8
RSS_TARGET_KIB = 64 * 1024
FUNCTION = "env-auth"

# Peak RSS of the measured command itself (see benchmarks/README.md, bench_invoke.py).
MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def faasauth_path() -> str:
    path = Path(sys.executable).parent / "faasauth"
    return str(path) if path.exists() else (shutil.which("faasauth") or sys.exit("no faasauth"))


def make_body(path: Path, mib: int) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    with open(path, "wb") as out:
        for _ in range(mib):
            out.write(block)


class Runner:
    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.env = env
        self.work = work

    def run(self, shell: str, *, env: dict[str, str] | None = None) -> tuple[float, bytes]:
        started = time.perf_counter()
        done = subprocess.run(["sh", "-c", shell], env=env or self.env, capture_output=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"failed ({done.returncode}): {shell}\n{done.stderr.decode()}")
        return seconds, done.stdout

    def measured(self, argv: list[str]) -> tuple[str, Path]:
        """`argv` run through the wait4 measurer; the file its peak RSS (KiB) goes to."""
        rss = self.work / f"rss-{time.monotonic_ns()}"
        command = [sys.executable, "-c", MEASURE, str(rss), *argv]
        return shlex.join(command), rss


def received(out: bytes) -> int:
    import json

    return int(json.loads(out)["body_bytes"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="body size in MiB")
    parser.add_argument("--runs", type=int, default=3, help="warm runs of each command")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is not installed")

    work = Path(tempfile.mkdtemp(prefix="faasauth-bench-body-"))
    body = work / "big.bin"
    make_body(body, args.mib)
    size = args.mib << 20
    faasauth = faasauth_path()
    ok = True
    with Sandbox() as sandbox:
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("FAASAUTH_", "OPENFAAS_"))}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base.update(sandbox.env(), FAASAUTH_TOKEN_STORE="file", NO_PROXY="*",
                    PYTHONPYCACHEPREFIX=str(work / "pycache"))
        runner = Runner(base, work)
        homes = 0

        def fresh_home() -> dict[str, str]:
            """Logged in, nothing else: the next invoke is a first call (it probes)."""
            nonlocal homes
            homes += 1
            env = {**base, "FAASAUTH_HOME": str(work / f"home-{homes}")}
            subprocess.run([faasauth, "auth"], env=env, check=True, capture_output=True)
            return env

        warm_env = fresh_home()
        token = subprocess.run(
            [faasauth, "exchange", "-a", f"openfaas-fn:{FUNCTION}"], env=fresh_home(),
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        url = f"{sandbox.gateway_url}/function/{FUNCTION}"
        curl = ["curl", "-sS", "--fail", "-X", "POST", "-H", f"Authorization: Bearer {token}"]
        q = shlex.quote
        source = q(str(body))
        curl_commands = {
            "curl pipe": f"cat {source} | {shlex.join([*curl, '-T', '-', url])}",
            "curl file": shlex.join([*curl, "-T", str(body), url]),
        }
        rss_seen: dict[str, list[int]] = {}
        nowhere = str(work / "no-such-dir")  # TMPDIR for the regular file: no copy possible

        def run_ours(label: str, env: dict[str, str]) -> float:
            line, rss = runner.measured([faasauth, "invoke", FUNCTION])
            shell = f"cat {source} | {line}" if "pipe" in label else f"{line} < {source}"
            if "file" in label:
                env = {**env, "TMPDIR": nowhere}
            sandbox.clear_requests()
            seconds, out = runner.run(shell, env=env)
            assert received(out) == size, out[:200]
            rss_seen.setdefault(label, []).append(int(rss.read_text()))
            rss.unlink()
            paths = [f"{r.path} {r.status}" for r in sandbox.requests]
            expected = (
                [f"/function/{FUNCTION} 401", "/oauth/token 200", f"/function/{FUNCTION} 200"]
                if label.startswith("first")
                else [f"/function/{FUNCTION} 200"]
            )
            if paths != expected:
                sys.exit(f"{label}: unexpected requests {paths}")
            return seconds

        print(f"{args.mib} MiB through the sandbox gateway ({sandbox.gateway_url}), "
              f"{os.cpu_count()} CPUs, {args.runs} runs each, interleaved; "
              f"load average {os.getloadavg()[0]:.1f} at the start")
        run_ours("first call, pipe", warm_env)  # warm_env's first call: now it is warm
        labels = ("curl pipe", "faasauth pipe", "first call, pipe",
                  "curl file", "faasauth file", "first call, file")
        times: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for label in labels:
                if label.startswith("curl"):
                    seconds, out = runner.run(curl_commands[label])
                    assert received(out) == size, out[:200]
                elif label.startswith("first"):
                    seconds = run_ours(label, fresh_home())
                else:
                    seconds = run_ours(label, warm_env)
                times.setdefault(label, []).append(seconds)

        med = {label: statistics.median(values) for label, values in times.items()}
        for label in labels:
            uploads = 2 if label.startswith("first") else 1
            rate = size * uploads / med[label] / (1 << 20)
            rss = f", peak RSS {max(rss_seen[label]) / 1024:.1f} MiB" if label in rss_seen else ""
            print(f"  {label:<18} median {med[label]:6.2f} s, {uploads} upload(s), "
                  f"{rate:5.0f} MiB/s{rss}")
        checks = [
            # (what, faasauth's throughput / curl's, target)
            ("pipe, warm", med["curl pipe"] / med["faasauth pipe"], PIPE_TARGET),
            ("pipe, first call (per upload)",
             2 * med["curl pipe"] / med["first call, pipe"], PIPE_TARGET),
            ("regular file, warm", med["curl file"] / med["faasauth file"], FILE_TARGET),
            ("regular file, first call (per upload)",
             2 * med["curl file"] / med["first call, file"], FILE_TARGET),
        ]
        for name, ratio, target in checks:
            met = ratio >= target
            ok = ok and met
            print(f"  {name:<38} {ratio:.2f}x curl's throughput (target >= {target}): "
                  f"{'OK' if met else 'UNDER'}")
        worst = max(max(values) for values in rss_seen.values())
        met = worst <= RSS_TARGET_KIB
        ok = ok and met
        print(f"  peak RSS, worst faasauth run: {worst / 1024:.1f} MiB "
              f"(target <= {RSS_TARGET_KIB // 1024}): {'OK' if met else 'OVER'}")
        print("  regular file: no spooled copy (TMPDIR pointed nowhere, and every call "
              "succeeded)")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
