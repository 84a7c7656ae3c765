"""`faasauth invoke` over HTTPS at a distance, against faas-cli on the same sandbox.

Starts the sandbox with TLS (a throw-away CA) in this process and puts a latency proxy
(latency_proxy.py: RTT/2 each way, one RTT for a new connection's TCP handshake) in front
of its gateway. At each RTT (0, 20, 50, 100 ms), interleaved, RUNS times each:

    faasauth first     a first call: probe (401), exchange, retry; the login is cached
    faasauth warm      function token cached, function remembered: one request
    faas-cli auto      `faas-cli invoke env-auth` (probe, then exchange and call)
    faas-cli --auth    `faas-cli invoke env-auth --auth` (exchange, call)

faas-cli runs only when a `faas-cli` binary is on PATH (or --faas-cli PATH); it reads an
OPENFAAS_CONFIG written here, holding an IdP token for the gateway (auth: oauth2), and
exchanges it for a function token on every call, as it does.

The sandbox's request log counts requests and connections per call; faasauth's are
checked (first: one connection for probe, exchange and retry; warm: one connection, one
request). Beside each median the model `start-up + k x RTT` is printed, with start-up the
median at 0 ms and k = 2 x connections (TCP and TLS 1.3 handshakes) + requests.

Trust: by default the CA is put in a hashed directory (`openssl rehash` naming) listed in
SSL_CERT_DIR after /etc/ssl/certs, as a gateway with a public CA would be found in the
system store; `--trust file` passes it as SSL_CERT_FILE instead. `--trust-options` first
times, in fresh processes, the ways faasauth could set trust up (faasauth/http.py).

Targets: warm at 0 ms no slower than faas-cli auto (ratio <= 1.00); warm faster than
faas-cli --auth at every RTT from 20 ms. Exits 1 when one is missed or a count is wrong.

    python benchmarks/bench_tls.py [--runs 10] [--rtt 0,20,50,100] [--trust dir|file]
                                   [--trust-options] [--faas-cli PATH]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_proxy import LatencyProxy  # noqa: E402

from faasauth.sandbox import Sandbox  # noqa: E402

FUNCTION = "env-auth"
BODY = b"hello, function\n"


def faasauth_path() -> str:
    path = Path(sys.executable).parent / "faasauth"
    return str(path) if path.exists() else (shutil.which("faasauth") or sys.exit("no faasauth"))


def timed(argv: list[str], env: dict[str, str], stdin: Path) -> float:
    with open(stdin, "rb") as handle:
        started = time.perf_counter()
        done = subprocess.run(argv, stdin=handle, env=env, capture_output=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr.decode()}")
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
        results: dict[tuple[str, int], float] = {}
        counts: dict[str, tuple[int, int]] = {}
        for rtt in rtts:
            with LatencyProxy(("127.0.0.1", int(sandbox.gateway_url.rsplit(":", 1)[1])),
                              rtt) as proxy:
                url = f"https://127.0.0.1:{proxy.port}"
                env = {**base, "OPENFAAS_URL": url}
                template = work / f"home-template-{rtt}"  # logged in for this URL
                subprocess.run([faasauth, "auth"], env={**env, "FAASAUTH_HOME": str(template)},
                               check=True, capture_output=True)
                warm_home = work / f"home-warm-{rtt}"
                shutil.copytree(template, warm_home)
                warm_env = {**env, "FAASAUTH_HOME": str(warm_home)}
                timed([faasauth, "invoke", FUNCTION], warm_env, body)  # the first call
                config = work / f"faas-cli-{rtt}"
                config.mkdir()
                (config / "config.yml").write_text(
                    f"auths:\n- gateway: {url}\n  auth: oauth2\n  token: {idp_token}\n")
                (config / "config.yml").chmod(0o600)
                cli_env = {**env, "OPENFAAS_CONFIG": str(config)}
                clients: dict[str, tuple[list[str], dict[str, str]]] = {
                    "faasauth warm": ([faasauth, "invoke", FUNCTION], warm_env),
                }
                if faas_cli:
                    clients["faas-cli auto"] = ([faas_cli, "invoke", FUNCTION], cli_env)
                    clients["faas-cli --auth"] = ([faas_cli, "invoke", FUNCTION, "--auth"],
                                                  cli_env)
                times: dict[str, list[float]] = {"faasauth first": []}
                for label, (argv, client_env) in clients.items():  # warm the page cache
                    timed(argv, client_env, body)
                for run in range(args.runs):
                    home = work / f"home-first-{rtt}-{run}"
                    shutil.copytree(template, home)
                    order = [("faasauth first", ([faasauth, "invoke", FUNCTION],
                                                 {**env, "FAASAUTH_HOME": str(home)}))]
                    order += list(clients.items())
                    for label, (argv, client_env) in order:
                        sandbox.clear_requests()
                        times.setdefault(label, []).append(timed(argv, client_env, body))
                        gateway = [r for r in sandbox.requests if r.origin == "gateway"]
                        seen = (len({r.connection for r in gateway}), len(gateway))
                        if counts.setdefault(label, seen) != seen:
                            print(f"  {label}: {seen} connections/requests, "
                                  f"before {counts[label]}")
                            ok = False
                for label, values in times.items():
                    results[(label, rtt)] = statistics.median(values)

        expected = {"faasauth first": (1, 3), "faasauth warm": (1, 1)}
        print(f"{'':<17}" + "".join(f"{f'{rtt} ms':>20}" for rtt in rtts)
              + "   connections, requests")
        for label in ("faasauth first", "faasauth warm", "faas-cli auto", "faas-cli --auth"):
            if label not in counts:
                continue
            conns, requests = counts[label]
            k = 2 * conns + requests
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
            print(f"{label:<17}{cells}   {conns}, {requests} (k={k}){note}")
        if faas_cli:
            if 0 in rtts:
                ratio = results[("faasauth warm", 0)] / results[("faas-cli auto", 0)]
                met = ratio <= 1.0
                ok = ok and met
                print(f"warm at 0 ms / faas-cli auto: {ratio:.2f} (target <= 1.00): "
                      f"{'OK' if met else 'OVER'}")
            for rtt in (r for r in rtts if r >= 20):
                ratio = results[("faasauth warm", rtt)] / results[("faas-cli --auth", rtt)]
                met = ratio < 1.0
                ok = ok and met
                print(f"warm at {rtt} ms / faas-cli --auth: {ratio:.2f} (target < 1.00): "
                      f"{'OK' if met else 'OVER'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
