"""`faasauth proxy` under load and with a large body, against calls straight at the gateway.

Starts the sandbox (faasauth.sandbox.Sandbox, in this process, on loopback), logs in with
its confidential client in a temporary FAASAUTH_HOME, and starts `faasauth proxy
--background` for it. Then, side by side in one run:

    load    CLIENTS concurrent clients (a separate process, one thread and one kept-alive
            connection each) make small calls to the jwt_auth function `env-auth` for
            SECONDS, first straight at the gateway with `Authorization: Bearer <token>`,
            then through the proxy (no token); the same with one client, the proxy's
            own cost without queueing. Printed: calls, errors, median and p99 latency,
            the median added by the proxy, the exchanges the gateway saw during the
            proxied run, and the proxy's RSS before and after (it must not grow with the
            number of calls).
    body    `curl -T big.bin` (MIB MiB, length known) straight at the gateway with the
            token, and through the proxy without one, interleaved RUNS times; the proxy's
            peak RSS (VmHWM) after the uploads.

Targets (issue 23): zero errors, one exchange per audience (here: none during the load,
since the proxy renews ahead of expiry), median added latency <= 2 ms at CLIENTS clients,
the proxy's RSS flat (grows < 8 MiB over the load); 1 GiB through the proxy at >= 0.8x
curl's throughput straight at the gateway, the proxy's peak RSS <= 64 MiB. Exits 1 when
one is missed.

With --floor, the same load and uploads also go through benchmarks/byte_relay.py, a Python
relay that only copies bytes (with the token, as curl's): what one more Python process on the
way costs here at the least, whatever it does; the rest of the proxy's figure is its own
HTTP work per call.

    python benchmarks/bench_proxy.py [--clients 64] [--seconds 10] [--mib 1024] [--runs 3]
                                     [--floor]
"""

from __future__ import annotations

import argparse
import json
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

FUNCTION = "env-auth"
ADDED_LATENCY_TARGET_MS = 2.0
BODY_TARGET = 0.8
RSS_TARGET_KIB = 64 * 1024
RSS_GROWTH_KIB = 8 * 1024

# The load generator, in its own process: THREADS clients, each one kept-alive connection
# making small POSTs until the deadline; prints the latencies (ms) and the error count.
LOAD = r"""
import http.client, json, sys, threading, time
host, port, path, auth, clients, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
headers = {"Content-Type": "text/plain", "Host": f"{host}:{port}"}
if auth:
    headers["Authorization"] = auth
latencies, errors, lock = [], [0], threading.Lock()
start = threading.Barrier(clients)
def client():
    conn = http.client.HTTPConnection(host, port, timeout=30)
    mine, failed = [], 0
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        try:
            conn.request("POST", path, body=b"hello", headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                failed += 1
        except OSError:
            failed += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        mine.append((time.perf_counter() - began) * 1000)
    with lock:
        latencies.extend(mine)
        errors[0] += failed
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"latencies": latencies, "errors": errors[0]}))
"""


def faasauth_path() -> str:
    path = Path(sys.executable).parent / "faasauth"
    return str(path) if path.exists() else (shutil.which("faasauth") or sys.exit("no faasauth"))


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of a process so far; None: this one (the sandbox's)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def load(port: int, auth: str, clients: int, seconds: float) -> tuple[list[float], int]:
    done = subprocess.run(
        [sys.executable, "-c", LOAD, "127.0.0.1", str(port), f"/function/{FUNCTION}", auth,
         str(clients), str(seconds)],
        capture_output=True, text=True, check=True,
    )
    result = json.loads(done.stdout)
    return sorted(result["latencies"]), int(result["errors"])


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))]


def make_body(path: Path, mib: int) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    with open(path, "wb") as out:
        for _ in range(mib):
            out.write(block)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mib", type=int, default=1024, help="body size in MiB (0 skips)")
    parser.add_argument("--runs", type=int, default=3, help="uploads of each kind")
    parser.add_argument("--floor", action="store_true",
                        help="also through a byte-copying Python relay (byte_relay.py)")
    args = parser.parse_args()
    if args.mib and shutil.which("curl") is None:
        sys.exit("curl is not installed")
    work = Path(tempfile.mkdtemp(prefix="faasauth-bench-proxy-"))
    faasauth = faasauth_path()
    ok = True
    with Sandbox() as sandbox:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FAASAUTH_", "OPENFAAS_"))}
        env.update(sandbox.env(), FAASAUTH_TOKEN_STORE="file", NO_PROXY="*",
                   FAASAUTH_HOME=str(work / "home"))
        subprocess.run([faasauth, "auth"], env=env, check=True, capture_output=True)
        token = subprocess.run([faasauth, "exchange", "-a", f"openfaas-fn:{FUNCTION}"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        exports = subprocess.run([faasauth, "proxy", "--background"], env=env, check=True,
                                 capture_output=True, text=True).stdout
        values = dict(part.split("=", 1) for line in exports.splitlines()
                      for part in shlex.split(line.rstrip(";")) if "=" in part)
        proxy_url, pid = values["FAASAUTH_PROXY_URL"], int(values["FAASAUTH_PROXY_PID"])
        proxy_port = int(proxy_url.rsplit(":", 1)[1])
        gateway_port = int(sandbox.gateway_url.rsplit(":", 1)[1])
        relay = relay_port = splicer = splice_port = None
        if args.floor:
            relay = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("byte_relay.py")),
                 str(gateway_port)], stdout=subprocess.PIPE, text=True)
            assert relay.stdout is not None
            relay_port = int(relay.stdout.readline())
            if sys.platform.startswith("linux"):  # splice(2): the bytes never enter Python
                splicer = subprocess.Popen(
                    [sys.executable, str(Path(__file__).with_name("byte_relay.py")),
                     str(gateway_port), "--splice"], stdout=subprocess.PIPE, text=True)
                assert splicer.stdout is not None
                splice_port = int(splicer.stdout.readline())
        try:
            print(f"sandbox gateway {sandbox.gateway_url}, proxy {proxy_url} (pid {pid}); "
                  f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start")
            load(proxy_port, "", 4, 1.0)  # warm: the function remembered, its token cached
            for clients in (1, args.clients):
                gateway_cpu = cpu_seconds()
                direct, direct_errors = load(gateway_port, f"Bearer {token}", clients,
                                             args.seconds)
                gateway_cpu = (cpu_seconds() - gateway_cpu) / max(1, len(direct))
                rss_before = rss_kib(pid)
                sandbox.clear_requests()
                proxy_cpu = cpu_seconds(pid)
                proxied, proxied_errors = load(proxy_port, "", clients, args.seconds)
                proxy_cpu = (cpu_seconds(pid) - proxy_cpu) / max(1, len(proxied))
                exchanges = sum(1 for r in sandbox.requests if r.path == "/oauth/token")
                rss_after = rss_kib(pid)
                added = statistics.median(proxied) - statistics.median(direct)
                print(f"  {clients} client(s), {args.seconds:.0f} s each way:")
                for label, values_ms, errors in (("direct", direct, direct_errors),
                                                  ("via proxy", proxied, proxied_errors)):
                    print(f"    {label:<10} {len(values_ms):6d} calls, {errors} errors, "
                          f"median {statistics.median(values_ms):6.2f} ms, "
                          f"p99 {percentile(values_ms, 0.99):6.2f} ms")
                print(f"    CPU per call: the sandbox gateway {gateway_cpu * 1e6:.0f} us, the "
                      f"proxy {proxy_cpu * 1e6:.0f} us")
                print(f"    added by the proxy: median {added:+.2f} ms; exchanges during "
                      f"the proxied run: {exchanges}; proxy RSS {rss_before / 1024:.1f} -> "
                      f"{rss_after / 1024:.1f} MiB")
                errors_ok = direct_errors == 0 and proxied_errors == 0 and exchanges <= 1
                flat = rss_after - rss_before < RSS_GROWTH_KIB
                ok = ok and errors_ok and flat
                if not errors_ok:
                    print("    UNDER: errors, or more than one exchange")
                if not flat:
                    print("    OVER: the proxy's RSS grew with the calls")
                if relay_port is not None:
                    assert relay is not None
                    relay_cpu = cpu_seconds(relay.pid)
                    floor, floor_errors = load(relay_port, f"Bearer {token}", clients,
                                               args.seconds)
                    relay_cpu = (cpu_seconds(relay.pid) - relay_cpu) / max(1, len(floor))
                    floor_added = statistics.median(floor) - statistics.median(direct)
                    print(f"    {'byte relay':<10} {len(floor):6d} calls, {floor_errors} errors, "
                          f"median {statistics.median(floor):6.2f} ms, "
                          f"p99 {percentile(floor, 0.99):6.2f} ms (the floor: added "
                          f"{floor_added:+.2f} ms; CPU per call {relay_cpu * 1e6:.0f} us)")
                if clients == args.clients:
                    met = added <= ADDED_LATENCY_TARGET_MS
                    ok = ok and met
                    print(f"    median added latency (target <= {ADDED_LATENCY_TARGET_MS} ms): "
                          f"{'OK' if met else 'OVER'}")
                    if relay_port is not None:
                        print(f"    the byte relay alone adds {floor_added:+.2f} ms (the "
                              "floor of one more Python process; noise is a few ms)")
            if args.mib:
                body = work / "big.bin"
                make_body(body, args.mib)
                size = args.mib << 20
                url = f"/function/{FUNCTION}"
                commands = {
                    "curl straight": ["curl", "-sS", "--fail", "-X", "POST", "-H",
                                      f"Authorization: Bearer {token}", "-T", str(body),
                                      sandbox.gateway_url + url],
                    "curl via proxy": ["curl", "-sS", "--fail", "-X", "POST", "-T", str(body),
                                       proxy_url + url],
                }
                for label, port in (("curl via relay", relay_port),
                                    ("curl via splice", splice_port)):
                    if port is not None:
                        commands[label] = [
                            "curl", "-sS", "--fail", "-X", "POST", "-H",
                            f"Authorization: Bearer {token}", "-T", str(body),
                            f"http://127.0.0.1:{port}{url}"]
                times: dict[str, list[float]] = {}
                for _ in range(args.runs):
                    for label, argv in commands.items():
                        began = time.perf_counter()
                        out = subprocess.run(argv, capture_output=True, check=True).stdout
                        times.setdefault(label, []).append(time.perf_counter() - began)
                        got = int(json.loads(out)["body_bytes"])
                        assert got == size, (label, got)
                peak = rss_kib(pid, "VmHWM")
                med = {label: statistics.median(v) for label, v in times.items()}
                print(f"  {args.mib} MiB from a regular file, {args.runs} runs each, "
                      "interleaved:")
                for label, seconds in med.items():
                    print(f"    {label:<15} median {seconds:6.2f} s, "
                          f"{size / seconds / (1 << 20):5.0f} MiB/s")
                ratio = med["curl straight"] / med["curl via proxy"]
                met = ratio >= BODY_TARGET
                ok = ok and met
                print(f"    through the proxy: {ratio:.2f}x curl's throughput straight at the "
                      f"gateway (target >= {BODY_TARGET}): {'OK' if met else 'UNDER'}")
                for label, what in (("curl via relay", "the byte relay (asyncio)"),
                                    ("curl via splice", "the byte relay (splice)")):
                    if label in med:
                        print(f"    through {what}: "
                              f"{med['curl straight'] / med[label]:.2f}x")
                met = peak <= RSS_TARGET_KIB
                ok = ok and met
                print(f"    the proxy's peak RSS: {peak / 1024:.1f} MiB (target <= "
                      f"{RSS_TARGET_KIB // 1024}): {'OK' if met else 'OVER'}")
        finally:
            subprocess.run([faasauth, "proxy", "--stop"], env=env, capture_output=True)
            for child in (relay, splicer):
                if child is not None:
                    child.terminate()
                    child.wait()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
