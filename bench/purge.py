#!/usr/bin/env python3
"""The retention purge under load, on Postgres. Run by hand, never in CI:

    python3 bench/purge.py                  # 1,000,000 dead rows
    PURGE_ROWS=200000 python3 bench/purge.py

Fills access_tokens with PURGE_ROWS expired opaque-token rows (one INSERT …
SELECT generate_series), then drives client-credentials (JWT) and
introspection (opaque) at a fixed rate — a quarter of what each does alone,
so about half of the machine together —
three times: a baseline window with the dead rows in place, a window as
long as `tessera purge` takes to delete them, and a second baseline after.
Prints the three windows' p50/p99 and the purge's duration and rows; the
bar is p99 within 10% of the baseline. Results land in bench/out/purge-<time>.json.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from soak import oha_args, summarize  # noqa: E402

ROWS = int(os.environ.get("PURGE_ROWS", "1000000"))
# Each scenario at a quarter of what it does alone: together about half of
# the machine, as a node serving real traffic with headroom would be.
LOAD_SHARE = 0.25
# Each baseline window; the purge window lasts as long as the purge.
BASELINE_SECONDS = int(os.environ.get("PURGE_BASELINE_SECONDS", "60"))


def main():
    oha = bench.ensure_oha()
    if subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tessera"], cwd=bench.ROOT).returncode:
        raise SystemExit("error: cargo build --release failed")
    binary = os.path.join(bench.ROOT, "target", "release", "tessera")
    database = "tessera_purge_bench"
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"CREATE DATABASE {database}"])
    db_url = f"{bench.ADMIN_URL.rsplit('/', 1)[0]}/{database}"
    data = tempfile.mkdtemp(prefix="tessera-purge-")
    url = f"http://127.0.0.1:{bench.PORT}"
    env = dict(os.environ, TESSERA_DATABASE_URL=db_url, TESSERA_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
               TESSERA_DATA_DIR=data, TESSERA_BIND=f"127.0.0.1:{bench.PORT}", TESSERA_MANAGEMENT_BIND="off",
               TESSERA_ISSUER=url, TESSERA_LOG="warn", TESSERA_PURGE_INTERVAL="off")
    cli = lambda *args: json.loads(bench.run([binary, *args, "--json"], env=env))  # noqa: E731
    cli("service-account", "create", "--username", "svc-purge")
    cli("scope", "create", "api:read")
    common = ["--grant", "client_credentials", "--scope", "api:read", "--service-account", "svc-purge"]
    jwt_client = cli("client", "create", "--name", "purge-jwt", *common)
    opaque_client = cli("client", "create", "--name", "purge-opaque", "--token-format", "opaque", *common)
    rs = cli("client", "create", "--name", "purge-rs", "--grant", "client_credentials", "--resource-server")

    started = time.time()
    bench.run(["psql", db_url, "-qc",
               "INSERT INTO access_tokens (token_hash, jti, client_id, subject, username, scope, audience, "
               "issued_at, expires_at) SELECT 'dead-' || i, 'dead-jti-' || i, "
               f"'{opaque_client['client_id']}', 'svc-purge', 'svc-purge', 'api:read', '{url}', 1000, 1600 "
               f"FROM generate_series(1, {ROWS}) AS i"])
    bench.run(["psql", db_url, "-qc", "VACUUM ANALYZE access_tokens"])
    bench.log(f"inserted {ROWS:,} expired token rows in {time.time() - started:.1f} s")

    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bench.wait_ready(f"{url}/readyz")
        auth = lambda c: f"{c['client_id']}:{c['client_secret']}"  # noqa: E731
        opaque = bench.post(f"{url}/oauth2/token", "grant_type=client_credentials", opaque_client["client_id"],
                            opaque_client["client_secret"])["access_token"]
        scenarios = {
            "client_credentials (JWT)": ("/oauth2/token", "POST", "grant_type=client_credentials", auth(jwt_client)),
            "introspection (opaque)": ("/oauth2/introspect", "POST", f"token={opaque}", auth(rs)),
        }
        capacity = {name: summarize(json.loads(bench.run(oha_args(oha, s, url, 5, connections=32))))["rps"]
                    for name, s in scenarios.items()}
        rates = {name: LOAD_SHARE * c for name, c in capacity.items()}
        bench.log("rates (req/s): " + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items()))

        dry = cli("purge", "--dry-run")
        bench.log(f"dry run: {dry['total']:,} rows would go")

        def load(seconds, until=None):
            """Both scenarios at their rates for `seconds`, or until the
            event `until` is set (then oha is interrupted and reports)."""
            # A fresh token to introspect each time: one that expired would
            # be answered inactive, and the scanner throttle would step in.
            fresh = bench.post(f"{url}/oauth2/token", "grant_type=client_credentials", opaque_client["client_id"],
                               opaque_client["client_secret"])["access_token"]
            scenarios["introspection (opaque)"] = ("/oauth2/introspect", "POST", f"token={fresh}", auth(rs))
            running = {name: subprocess.Popen(oha_args(oha, s, url, seconds, rate=rates[name]),
                                              stdout=subprocess.PIPE, text=True) for name, s in scenarios.items()}
            if until is not None:
                until.wait()
                for p in running.values():
                    p.send_signal(signal.SIGINT)
            return {name: summarize(json.loads(p.communicate()[0])) for name, p in running.items()}

        # The baseline first, with the dead rows in place (the state the
        # purge starts from), then the purge under the same load, then a
        # second baseline: the two baselines show how far p99 moves by
        # itself between windows.
        before = load(BASELINE_SECONDS)
        purge_result = {}
        purged = threading.Event()

        def purge_soon():
            time.sleep(1)
            began = time.time()
            purge_result.update(cli("purge"))
            purge_result["wall_seconds"] = time.time() - began
            purged.set()

        purger = threading.Thread(target=purge_soon)
        purger.start()
        during = load(24 * 3600, until=purged)
        purger.join()
        after = load(BASELINE_SECONDS)
        report = {"rows": ROWS, "rates": rates, "baseline_before": before, "during_purge": during,
                  "baseline_after": after, "purge": purge_result}
        print(f"\nPurge of {purge_result.get('total', 0):,} rows took {purge_result.get('wall_seconds', 0):.1f} s "
              f"under load; baselines of {BASELINE_SECONDS} s before and after it")
        print("| scenario | rate req/s | p50 ms before / purge / after | p99 ms before / purge / after "
              "| p99 change (vs the worse baseline) | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in scenarios:
            b, d, a = before[name], during[name], after[name]
            worse = max(b["p99_ms"], a["p99_ms"], 0.001)
            change = (d["p99_ms"] - worse) / worse * 100
            print(f"| {name} | {rates[name]:,.0f} | {b['p50_ms']:.2f} / {d['p50_ms']:.2f} / {a['p50_ms']:.2f} | "
                  f"{b['p99_ms']:.2f} / {d['p99_ms']:.2f} / {a['p99_ms']:.2f} | {change:+.0f}% | "
                  f"{b['errors'] + d['errors'] + a['errors']} |")
        os.makedirs(os.path.join(bench.ROOT, "bench", "out"), exist_ok=True)
        path = os.path.join(bench.ROOT, "bench", "out", f"purge-{int(time.time())}.json")
        json.dump(report, open(path, "w"), indent=1)
        print(f"details: {path}")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
