"""`faasauth invoke` over HTTPS at a distance, against faas-cli on the same sandbox.

Starts the sandbox with TLS (a throw-away CA) in this process and puts a latency proxy
(latency_proxy.py: RTT/2 each way, one RTT for a new connection's TCP handshake) in front
of its gateway. At each RTT (0, 20, 50, 100 ms), interleaved, RUNS times each:

    faasauth first     a first call: probe (401), exchange, retry; the login is cached
    faasauth warm      function token cached, function remembered: one request
    faas-cli auto      `faas-cli invoke env-auth` (probe, then exchange and call)
    faas-cli --auth    `faas-cli invoke env-auth --auth` (exchange, call)
    faasauth warm via proxy   `faasauth invoke` with FAASAUTH_PROXY: the thin client hands
                       it to a `faasauth proxy` started for the same URL and trust
                       (its own home, logged in, the function remembered and its token
                       cached), which sends the one request over its kept connection
    curl via proxy     `curl --unix-socket $FAASAUTH_PROXY http://localhost/function/...`

faas-cli runs only when a `faas-cli` binary is on PATH (or --faas-cli PATH); it reads an
OPENFAAS_CONFIG written here, holding an IdP token for the gateway (auth: oauth2), and
exchanges it for a function token on every call, as it does.

The sandbox's request log counts requests and connections per call, and the latency
proxy the connections opened during it; faasauth's are checked (first: one connection for
probe, exchange and retry; warm: one connection, one request; via the proxy: one request
on a connection already open, and the proxy's log shows it served the call). Beside each
median the model `start-up + k x RTT` is printed, with start-up the median at 0 ms and
k = 2 x new connections (TCP and TLS 1.3 handshakes) + requests.

Trust: by default the CA is put in a hashed directory (`openssl rehash` naming) listed in
SSL_CERT_DIR after /etc/ssl/certs, as a gateway with a public CA would be found in the
system store; `--trust file` passes it as SSL_CERT_FILE instead. `--trust-options` first
times, in fresh processes, the ways faasauth could set trust up (faasauth/http.py).

Targets: warm at 0 ms no slower than faas-cli auto (ratio <= 1.00); warm faster than
faas-cli --auth at every RTT from 20 ms; warm via proxy within 1.5x faas-cli --auth at
0 ms and <= 0.5x at every RTT from 20 ms. Exits 1 when one is missed or a count is wrong.
The proxy is stopped at the end (`faasauth proxy --stop`).

    python benchmarks/bench_tls.py [--runs 10] [--rtt 0,20,50,100] [--trust dir|file]
                                   [--trust-options] [--faas-cli PATH]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_proxy import LatencyProxy  # noqa: E402

from faasauth.sandbox import Sandbox  # noqa: E402

FUNCTION = "env-auth"
BODY = b"hello, function\n"


def faasauth_path() -> str:
    path = Path(sys.executable).parent / "faasauth"
    return str(path) if path.exists() else (shutil.which("faasauth") or sys.exit("no faasauth"))


VIA_PROXY = "faasauth warm via proxy"
CURL_VIA_PROXY = "curl via proxy"


def start_proxy(faasauth: str, env: dict[str, str]) -> dict[str, str]:
    """`eval "$(faasauth proxy --background)"`: the variables it exports."""
    done = subprocess.run([faasauth, "proxy", "--background"], env=env, capture_output=True,
                          text=True, timeout=60)
    exported = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            exported[key] = value
    if done.returncode != 0 or "FAASAUTH_PROXY" not in exported:
        sys.exit(f"faasauth proxy --background failed ({done.returncode}):\n{done.stderr}")
    return exported


def stop_proxy(faasauth: str, env: dict[str, str], exported: dict[str, str]) -> None:
    """`faasauth proxy --stop`; its process terminated if it is still there after that."""
    subprocess.run([faasauth, "proxy", "--stop"], env=env, capture_output=True, timeout=60)
    pid = int(exported.get("FAASAUTH_PROXY_PID", "0"))
    for _ in range(100):
        try:
            os.kill(pid, 0)  # detached, not our child: probed by signal 0
        except OSError:
            return
        time.sleep(0.02)
    print(f"  faasauth proxy {pid} still running after --stop: terminated")
    os.kill(pid, signal.SIGTERM)


def served_by_proxy(log: Path, since: int, runs: int, curl: bool) -> bool:
    """The proxy's log since `since` has one handed-over invoke per via-proxy run and
    one relayed or proxied request per via-proxy and curl run, each a 200."""
    with open(log, encoding="utf-8", errors="replace") as handle:
        handle.seek(since)
        text = handle.read()
    for _ in range(50):  # its last line is written after the caller has its answer
        ran = text.count(f"ran invoke {FUNCTION} (exit 0)")
        posted = text.count(f"POST /function/{FUNCTION} 200 ")
        if ran == runs and posted == runs * (2 if curl else 1):
            return True
        time.sleep(0.02)
        with open(log, encoding="utf-8", errors="replace") as handle:
            handle.seek(since)
            text = handle.read()
    print(f"  the proxy's log shows {ran} handed-over invokes and {posted} requests for "
          f"{runs} via-proxy runs{' and as many curl runs' if curl else ''}:\n{text}")
    return False


def timed(argv: list[str], env: dict[str, str], stdin: Path) -> float:
    with open(stdin, "rb") as handle:
        started = time.perf_counter()
        done = subprocess.run(argv, stdin=handle, env=env, capture_output=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr.decode()}")
    if b"invoking directly" in done.stderr:  # the thin client fell back: not via the proxy
        sys.exit(f"not through the proxy: {' '.join(argv)}\n{done.stderr.decode()}")
    return seconds


def hashed_dir(ca_file: str, work: Path) -> Path | None:
    """A directory holding the CA under its OpenSSL subject hash (`<hash>.0`)."""
    if shutil.which("openssl") is None:
        return None
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", ca_file],
                            capture_output=True, text=True, check=True).stdout.strip()
    directory = work / "ca-dir"
    directory.mkdir()
    shutil.copy(ca_file, directory / f"{digest}.0")
    return directory


TRUST_OPTIONS = {
    "certifi bundle (faasauth before)":
        "import certifi; ssl.create_default_context(cafile=certifi.where())",
    "OpenSSL default paths":
        "ssl.create_default_context()",
    "system bundle file":
        "ssl.create_default_context(cafile=ssl.get_default_verify_paths().cafile)",
    "hashed directory, capath (faasauth now)":
        "ssl.create_default_context(capath=ssl.get_default_verify_paths().capath)",
    "truststore (OS store)":
        "import truststore; truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)",
}


def bench_trust_options(runs: int) -> None:
    print("trust set-up in a fresh process (import ssl done), median of "
          f"{runs}; a verified handshake adds ~1 ms for each:")
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    for label, code in TRUST_OPTIONS.items():
        program = ("import ssl, time; t = time.perf_counter(); " + code +
                   "; print(time.perf_counter() - t)")
        times = []
        for _ in range(runs):
            done = subprocess.run([sys.executable, "-c", program], env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                times = []
                break
            times.append(float(done.stdout))
        shown = f"{statistics.median(times) * 1000:6.1f} ms" if times else "  (not installed)"
        print(f"  {label:<42} {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rtt", default="0,20,50,100", help="round-trip times, ms")
    parser.add_argument("--trust", choices=("dir", "file"), default="dir")
    parser.add_argument("--trust-options", action="store_true",
                        help="first time the ways to set trust up")
    parser.add_argument("--faas-cli", default=shutil.which("faas-cli"), metavar="PATH")
    args = parser.parse_args()
    rtts = [int(x) for x in args.rtt.split(",")]
    if args.trust_options:
        bench_trust_options(max(args.runs, 5))

    work = Path(tempfile.mkdtemp(prefix="faasauth-bench-tls-"))
    body = work / "body"
    body.write_bytes(BODY)
    faasauth = faasauth_path()
    ok = True
    with Sandbox(tls=True) as sandbox:
        assert sandbox.ca_file is not None
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("FAASAUTH_", "OPENFAAS_", "SSL_CERT_"))}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base.update(sandbox.env(), FAASAUTH_TOKEN_STORE="file", NO_PROXY="*",
                    PYTHONPYCACHEPREFIX=str(work / "pycache"))
        trust = "SSL_CERT_FILE (the CA alone)"
        directory = hashed_dir(sandbox.ca_file, work) if args.trust == "dir" else None
        if directory is not None:
            system = os.environ.get("SSL_CERT_DIR") or "/etc/ssl/certs"
            del base["SSL_CERT_FILE"]
            base["SSL_CERT_DIR"] = f"{system}:{directory}"
            trust = f"SSL_CERT_DIR={system}:<the CA, hashed>"
        idp_token = sandbox.issue_idp_token(expires_in=3600)
        print(f"HTTPS sandbox gateway behind a latency proxy; {os.cpu_count()} CPUs; "
              f"{args.runs} runs each, interleaved; trust: {trust}")
        faas_cli = args.faas_cli
        if faas_cli:
            version = subprocess.run([faas_cli, "version", "--short-version"],
                                     capture_output=True, text=True).stdout.strip()
            print(f"faas-cli: {faas_cli} {version}")
        else:
            print("faas-cli: not on PATH (--faas-cli PATH): faasauth only, targets not judged")
        have_curl = shutil.which("curl") is not None
        results: dict[tuple[str, int], float] = {}
        counts: dict[str, tuple[int, int, int]] = {}  # connections, requests, new connections
        for rtt in rtts:
            with LatencyProxy(("127.0.0.1", int(sandbox.gateway_url.rsplit(":", 1)[1])),
                              rtt) as link:
                url = f"https://127.0.0.1:{link.port}"
                env = {**base, "OPENFAAS_URL": url}
                template = work / f"home-template-{rtt}"  # logged in for this URL
                subprocess.run([faasauth, "auth"], env={**env, "FAASAUTH_HOME": str(template)},
                               check=True, capture_output=True)
                warm_home = work / f"home-warm-{rtt}"
                shutil.copytree(template, warm_home)
                warm_env = {**env, "FAASAUTH_HOME": str(warm_home)}
                timed([faasauth, "invoke", FUNCTION], warm_env, body)  # the first call
                proxy_home = work / f"home-proxy-{rtt}"
                shutil.copytree(template, proxy_home)
                proxy_env = {**env, "FAASAUTH_HOME": str(proxy_home)}
                exported = start_proxy(faasauth, proxy_env)
                try:
                    via_env = {**proxy_env, "FAASAUTH_PROXY": exported["FAASAUTH_PROXY"]}
                    timed([faasauth, "invoke", FUNCTION], via_env, body)  # its first call
                    config = work / f"faas-cli-{rtt}"
                    config.mkdir()
                    (config / "config.yml").write_text(
                        f"auths:\n- gateway: {url}\n  auth: oauth2\n  token: {idp_token}\n")
                    (config / "config.yml").chmod(0o600)
                    cli_env = {**env, "OPENFAAS_CONFIG": str(config)}
                    clients: dict[str, tuple[list[str], dict[str, str]]] = {
                        "faasauth warm": ([faasauth, "invoke", FUNCTION], warm_env),
                        VIA_PROXY: ([faasauth, "invoke", FUNCTION], via_env),
                    }
                    if have_curl:
                        clients[CURL_VIA_PROXY] = (
                            ["curl", "-sS", "--fail", "--unix-socket",
                             exported["FAASAUTH_PROXY"], "--data-binary", "@-",
                             f"http://localhost/function/{FUNCTION}"], proxy_env)
                    if faas_cli:
                        clients["faas-cli auto"] = ([faas_cli, "invoke", FUNCTION], cli_env)
                        clients["faas-cli --auth"] = (
                            [faas_cli, "invoke", FUNCTION, "--auth"], cli_env)
                    times: dict[str, list[float]] = {"faasauth first": []}
                    for label, (argv, client_env) in clients.items():  # warm the page cache
                        timed(argv, client_env, body)
                    log = Path(exported["FAASAUTH_PROXY"] + ".log")
                    logged = log.stat().st_size
                    for run in range(args.runs):
                        home = work / f"home-first-{rtt}-{run}"
                        shutil.copytree(template, home)
                        order = [("faasauth first", ([faasauth, "invoke", FUNCTION],
                                                     {**env, "FAASAUTH_HOME": str(home)}))]
                        order += list(clients.items())
                        for label, (argv, client_env) in order:
                            sandbox.clear_requests()
                            opened = link.connections
                            times.setdefault(label, []).append(timed(argv, client_env, body))
                            gateway = [r for r in sandbox.requests if r.origin == "gateway"]
                            seen = (len({r.connection for r in gateway}), len(gateway),
                                    link.connections - opened)
                            if counts.setdefault(label, seen) != seen:
                                print(f"  {label}: {seen} connections/requests/new, "
                                      f"before {counts[label]}")
                                ok = False
                    ok = served_by_proxy(log, logged, args.runs, have_curl) and ok
                finally:
                    stop_proxy(faasauth, proxy_env, exported)
                for label, values in times.items():
                    results[(label, rtt)] = statistics.median(values)

        expected = {"faasauth first": (1, 3, 1), "faasauth warm": (1, 1, 1),
                    VIA_PROXY: (1, 1, 0), CURL_VIA_PROXY: (1, 1, 0)}
        print(f"{'':<24}" + "".join(f"{f'{rtt} ms':>20}" for rtt in rtts)
              + "   connections, requests, new")
        for label in ("faasauth first", "faasauth warm", VIA_PROXY, CURL_VIA_PROXY,
                      "faas-cli auto", "faas-cli --auth"):
            if label not in counts:
                continue
            conns, requests, new = counts[label]
            k = 2 * new + requests
            start = results[(label, rtts[0])] - k * rtts[0] / 1000
            cells = "".join(
                f"{results[(label, rtt)] * 1000:>9.0f} (model {(start + k * rtt / 1000) * 1000:4.0f})"
                for rtt in rtts
            )
            note = ""
            if label in expected:
                right = counts[label] == expected[label]
                ok = ok and right
                note = "" if right else f"  WRONG: expected {expected[label]}"
            print(f"{label:<24}{cells}   {conns}, {requests}, {new} (k={k}){note}")
        if faas_cli:
            targets = [("faasauth warm", "faas-cli auto", 0, 1.0, "<=")]
            targets += [("faasauth warm", "faas-cli --auth", r, 1.0, "<") for r in rtts if r >= 20]
            targets += [(VIA_PROXY, "faas-cli --auth", 0, 1.5, "<=")]
            targets += [(VIA_PROXY, "faas-cli --auth", r, 0.5, "<=") for r in rtts if r >= 20]
            for label, against, rtt, bound, sign in targets:
                if rtt not in rtts:
                    continue
                ratio = results[(label, rtt)] / results[(against, rtt)]
                met = ratio <= bound if sign == "<=" else ratio < bound
                ok = ok and met
                print(f"{label} at {rtt} ms / {against}: {ratio:.2f} "
                      f"(target {sign} {bound:.2f}): {'OK' if met else 'OVER'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
