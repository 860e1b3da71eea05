#!/usr/bin/env python3
"""Two builds of Tessera side by side on the token path. Run by hand:

    python3 bench/compare.py BEFORE_BINARY AFTER_BINARY [ROUNDS] [WORKLOAD]

WORKLOAD is `token` (the default: client-credentials requests, RS256 JWTs),
`introspect-jwt` or `introspect-opaque` (a resource server introspecting
one live token of that format over and over).

Each binary serves its own fresh Postgres database; the two take turns
(ROUNDS times each, default 3, 10 s per run after a 2 s warm-up) under the
same load (32 connections), so drift on the machine hits both alike. Prints
requests/s, p99 and the server's CPU time per request for every run, and
the medians — the measure of what a change costs the hot path (e.g.
recording metrics). To build the "before"
binary: git worktree add /tmp/before <commit> && (cd /tmp/before &&
cargo build --release) and pass /tmp/before/target/release/tessera.
"""

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

CONNECTIONS = 32


def start(binary, name):
    database = f"tessera_compare_{name}"
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"CREATE DATABASE {database}"])
    url = f"http://127.0.0.1:{bench.PORT}"
    env = dict(os.environ, TESSERA_DATABASE_URL=f"{bench.ADMIN_URL.rsplit('/', 1)[0]}/{database}",
               TESSERA_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
               TESSERA_DATA_DIR=tempfile.mkdtemp(prefix=f"tessera-{name}-"), TESSERA_BIND=f"127.0.0.1:{bench.PORT}",
               TESSERA_ISSUER=url, TESSERA_LOG="warn", TESSERA_MANAGEMENT_BIND="127.0.0.1:19464")
    cli = lambda *args: json.loads(bench.run([binary, *args, "--json"], env=env))  # noqa: E731
    cli("service-account", "create", "--username", "svc-compare")
    cli("scope", "create", "api:read")
    client = cli("client", "create", "--name", "compare", "--grant", "client_credentials", "--scope", "api:read",
                 "--service-account", "svc-compare")
    opaque = cli("client", "create", "--name", "compare-opaque", "--grant", "client_credentials", "--scope",
                 "api:read", "--service-account", "svc-compare", "--token-format", "opaque")
    resource_server = cli("client", "create", "--name", "compare-rs", "--grant", "client_credentials",
                          "--resource-server")
    return env, {"jwt": client, "opaque": opaque, "rs": resource_server}


def credentials(client):
    return client["client_id"], client["client_secret"]


def run_once(oha, binary, env, clients, workload):
    url = f"http://127.0.0.1:{bench.PORT}"
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bench.wait_ready(f"{url}/readyz")
        if workload == "token":
            path, body, (user, password) = "/oauth2/token", "grant_type=client_credentials", credentials(clients["jwt"])
        else:
            issuer = clients["jwt" if workload == "introspect-jwt" else "opaque"]
            token = bench.post(f"{url}/oauth2/token", "grant_type=client_credentials", *credentials(issuer))
            path, body, (user, password) = "/oauth2/introspect", f"token={token['access_token']}", credentials(
                clients["rs"])
            assert bench.post(f"{url}{path}", body, user, password)["active"] is True
        args = [oha, "-c", str(CONNECTIONS), "--no-tui", "--output-format", "json", "-m", "POST", "-d", body,
                "-T", "application/x-www-form-urlencoded", "-a", f"{user}:{password}", f"{url}{path}"]
        bench.run([*args[:1], "-z", "2s", *args[1:]])
        before = bench.cpu_seconds(server.pid)
        result = json.loads(bench.run([*args[:1], "-z", "10s", "-w", *args[1:]]))
        cpu = bench.cpu_seconds(server.pid) - before
        codes = result.get("statusCodeDistribution", {})
        ok = codes.get("200", 0)
        return {"rps": result["summary"]["requestsPerSec"], "p99_ms": result["latencyPercentiles"]["p99"] * 1000,
                "cpu_us": cpu * 1e6 / max(ok, 1), "errors": sum(codes.values()) - ok}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    before, after = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    workload = sys.argv[4] if len(sys.argv) > 4 else "token"
    if workload not in ("token", "introspect-jwt", "introspect-opaque"):
        raise SystemExit(f"unknown workload {workload!r}\n\n{__doc__}")
    oha = bench.ensure_oha()
    setups = {"before": (before, *start(before, "before")), "after": (after, *start(after, "after"))}
    runs = {"before": [], "after": []}
    for round_ in range(rounds):
        for name, (binary, env, clients) in setups.items():
            result = run_once(oha, binary, env, clients, workload)
            runs[name].append(result)
            bench.log(f"round {round_ + 1} {name:>6}: {result['rps']:,.0f} requests/s, p99 {result['p99_ms']:.2f} ms, "
                      f"{result['cpu_us']:.0f} CPU-µs/request, {result['errors']} errors")
            time.sleep(1)
    print(f"\n{workload}\n\n| build | requests/s (median) | p99 ms (median) | CPU-µs per request (median) | runs |")
    print("|---|---:|---:|---:|---|")
    for name, results in runs.items():
        med = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
        cpu = ", ".join(f"{r['cpu_us']:.0f}" for r in results)
        print(f"| {name} | {med('rps'):,.0f} | {med('p99_ms'):.2f} | {med('cpu_us'):.0f} | {cpu} |")


if __name__ == "__main__":
    main()
