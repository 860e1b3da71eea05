#!/usr/bin/env python3
"""Soak: mixed traffic held at ~70% of Tessera's capacity for a long time
(30 minutes by default), on Postgres, with the process watched from outside.
Run by hand, never in CI:

    python3 bench/soak.py              # 30 minutes
    SOAK_MINUTES=5 python3 bench/soak.py

First it measures each scenario's capacity alone (5 s each), then runs them
all at once, every scenario at 70% of its capacity times its share of the
mix, one minute at a time:

    client credentials, RS256 JWT   40%      introspection of a JWT     15%
    client credentials, opaque      10%      introspection, opaque      15%
    refresh-token rotation          15%      JWKS                        5%

Every 10 s it samples the server's resident memory, open file descriptors,
CPU and the database connections it holds (pg_stat_activity). At the end
it prints a table per minute and the verdict the issue asks for: RSS flat
within 10% after the first minute, p99 stable, zero errors, descriptors and
database connections flat. Results land in bench/out/soak-<time>.json.
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
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the same set-up, load generator and helpers)

MINUTES = int(os.environ.get("SOAK_MINUTES", "30"))
LOAD_SHARE = 0.70
MIX = {
    "client_credentials (JWT)": 0.40,
    "client_credentials (opaque)": 0.10,
    "introspection (JWT)": 0.15,
    "introspection (opaque)": 0.15,
    "refresh rotation": 0.15,
    "jwks": 0.05,
}
CONNECTIONS = 8
REFRESH_CHAINS = 16


def oha_args(oha, scenario, url, seconds, rate=None, connections=CONNECTIONS):
    target, method, body, auth = scenario
    # -w: requests in flight at the deadline finish (else oha counts them as
    # "aborted due to deadline", errors of its own making).
    args = [oha, "-z", f"{seconds}s", "-w", "-c", str(connections), "--no-tui", "--output-format", "json",
            "-m", method]
    if rate:
        args += ["-q", f"{rate:.1f}"]
    if body is not None:
        args += ["-d", body, "-T", "application/x-www-form-urlencoded"]
    if auth:
        args += ["-a", auth]
    return args + [url + target]


def summarize(result):
    codes = result.get("statusCodeDistribution", {})
    total = sum(codes.values())
    percentiles = result["latencyPercentiles"]
    return {
        "rps": result["summary"]["requestsPerSec"],
        "p50_ms": (percentiles.get("p50") or 0) * 1000,
        "p99_ms": (percentiles.get("p99") or 0) * 1000,
        "errors": total - codes.get("200", 0) + sum(result.get("errorDistribution", {}).values()),
        "total": total,
    }


class Sampler(threading.Thread):
    def __init__(self, pid, database):
        super().__init__(daemon=True)
        self.pid = pid
        self.database = database
        self.samples = []
        self.stop = threading.Event()

    def sample(self):
        with open(f"/proc/{self.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        connections = int(bench.run(["psql", bench.ADMIN_URL, "-Atc",
                                     f"SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{self.database}'"]))
        return {"t": time.time(), "rss_mb": rss / 1024, "fds": fds, "db_connections": connections,
                "cpu_s": bench.cpu_seconds(self.pid)}

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.sample())
            self.stop.wait(10)


def main():
    oha = bench.ensure_oha()
    build = subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tessera", "--example", "loadgen"],
                           cwd=bench.ROOT)
    if build.returncode != 0:
        raise SystemExit("error: cargo build --release failed")
    binary = os.path.join(bench.ROOT, "target", "release", "tessera")
    loadgen = os.path.join(bench.ROOT, "target", "release", "examples", "loadgen")
    database = "tessera_soak"
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"CREATE DATABASE {database}"])
    base = bench.ADMIN_URL.rsplit("/", 1)[0]
    data = tempfile.mkdtemp(prefix="tessera-soak-")
    url = f"http://127.0.0.1:{bench.PORT}"
    env = dict(
        os.environ,
        TESSERA_DATABASE_URL=f"{base}/{database}",
        TESSERA_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        TESSERA_DATA_DIR=data,
        TESSERA_BIND=f"127.0.0.1:{bench.PORT}",
        TESSERA_MANAGEMENT_BIND="off",
        TESSERA_ISSUER=url,
        TESSERA_LOG="warn",
    )
    cli = lambda *args: json.loads(bench.run([binary, *args, "--json"], env=env))  # noqa: E731
    cli("service-account", "create", "--username", "svc-soak")
    cli("scope", "create", "api:read")
    common = ["--grant", "client_credentials", "--scope", "api:read", "--service-account", "svc-soak"]
    jwt_client = cli("client", "create", "--name", "soak-jwt", *common)
    opaque_client = cli("client", "create", "--name", "soak-opaque", "--token-format", "opaque", *common)
    rs = cli("client", "create", "--name", "soak-rs", "--grant", "client_credentials", "--resource-server")
    web = cli("client", "create", "--name", "soak-web", "--grant", "authorization_code", "--grant", "refresh_token",
              "--redirect-uri", "http://127.0.0.1/cb", "--scope", "offline_access")
    subprocess.run([binary, "user", "create", "--username", "soak", "--email", "soak@example.com",
                    "--password-stdin"], env=env, input="soak password 1\n", text=True, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bench.wait_ready(f"{url}/readyz")
        auth = lambda c: f"{c['client_id']}:{c['client_secret']}"  # noqa: E731
        jwt = bench.post(f"{url}/oauth2/token", "grant_type=client_credentials", jwt_client["client_id"],
                         jwt_client["client_secret"])["access_token"]
        opaque = bench.post(f"{url}/oauth2/token", "grant_type=client_credentials", opaque_client["client_id"],
                            opaque_client["client_secret"])["access_token"]
        scenarios = {
            "client_credentials (JWT)": ("/oauth2/token", "POST", "grant_type=client_credentials", auth(jwt_client)),
            "client_credentials (opaque)": ("/oauth2/token", "POST", "grant_type=client_credentials",
                                            auth(opaque_client)),
            "introspection (JWT)": ("/oauth2/introspect", "POST", f"token={jwt}", auth(rs)),
            "introspection (opaque)": ("/oauth2/introspect", "POST", f"token={opaque}", auth(rs)),
            "jwks": ("/oauth2/jwks", "GET", None, None),
        }

        # Refresh chains from one remembered consent.
        authorize = f"{url}/oauth2/authorize?" + urllib.parse.urlencode({
            "client_id": web["client_id"], "response_type": "code", "redirect_uri": "http://127.0.0.1/cb",
            "scope": "offline_access", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256"})
        opener, _jar = bench.browser()
        _, _, login = bench.fetch(opener, authorize)
        _, _, consent = bench.fetch(opener, f"{url}/oauth2/authorize", {
            **bench.hidden_fields(login), "username": "soak", "password": "soak password 1", "tessera_action": "login"})
        bench.fetch(opener, f"{url}/oauth2/authorize", {**bench.hidden_fields(consent), "tessera_action": "consent"})

        def refresh_tokens(count):
            tokens = []
            for _ in range(count):
                _, headers, _ = bench.fetch(opener, authorize)
                form = {"grant_type": "authorization_code", "code": bench.code_from(headers),
                        "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}
                answer = bench.fetch(opener, f"{url}/oauth2/token", form, auth(web))[2]
                tokens.append(json.loads(answer)["refresh_token"])
            handle = tempfile.NamedTemporaryFile("w", delete=False)
            handle.write("\n".join(tokens))
            handle.close()
            return handle.name

        # Capacity of each scenario alone.
        capacity = {}
        for name, scenario in scenarios.items():
            result = json.loads(bench.run(oha_args(oha, scenario, url, 5, connections=32)))
            capacity[name] = summarize(result)["rps"]
        chains = refresh_tokens(REFRESH_CHAINS)
        refresh_alone = json.loads(bench.run([loadgen, "refresh", url, web["client_id"], web["client_secret"],
                                              chains, "5"]))
        capacity["refresh rotation"] = refresh_alone["rps"]
        rates = {name: LOAD_SHARE * share * capacity[name] for name, share in MIX.items()}
        bench.log("capacity alone (req/s): " + ", ".join(f"{k} {v:,.0f}" for k, v in capacity.items()))
        bench.log("soak rates (req/s):     " + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items()))

        sampler = Sampler(server.pid, database)
        sampler.start()
        interval_ms = max(1, int(1000 * REFRESH_CHAINS / rates["refresh rotation"]))
        chains = refresh_tokens(REFRESH_CHAINS)
        refresher = subprocess.Popen(
            [loadgen, "refresh", url, web["client_id"], web["client_secret"], chains, str(MINUTES * 60)],
            env=dict(os.environ, LOADGEN_INTERVAL_MS=str(interval_ms)), stdout=subprocess.PIPE, text=True)
        minutes = []
        for minute in range(1, MINUTES + 1):
            # Fresh tokens to introspect: the first ones expire after 10
            # minutes, and a caller meeting only inactive tokens is (rightly)
            # throttled as a scanner.
            for key, client in (("introspection (JWT)", jwt_client), ("introspection (opaque)", opaque_client)):
                token = bench.post(f"{url}/oauth2/token", "grant_type=client_credentials", client["client_id"],
                                   client["client_secret"])["access_token"]
                scenarios[key] = ("/oauth2/introspect", "POST", f"token={token}", auth(rs))
            running = {
                name: subprocess.Popen(oha_args(oha, scenario, url, 60, rate=rates[name]), stdout=subprocess.PIPE,
                                       text=True)
                for name, scenario in scenarios.items()
            }
            row = {"minute": minute}
            for name, process in running.items():
                out, _ = process.communicate()
                row[name] = summarize(json.loads(out))
            latest = sampler.samples[-1] if sampler.samples else sampler.sample()
            row.update({k: latest[k] for k in ("rss_mb", "fds", "db_connections")})
            minutes.append(row)
            bench.log(
                f"minute {minute:>2}: RSS {row['rss_mb']:.1f} MB, {row['fds']} fds, {row['db_connections']} db conns; "
                + "; ".join(f"{n.split(' ')[0][:6]}{'/o' if 'opaque' in n else ''} {row[n]['rps']:.0f}/s "
                            f"p99 {row[n]['p99_ms']:.1f} ms err {row[n]['errors']}" for n in scenarios)
            )
        load_ended = time.time()
        refresh_out, _ = refresher.communicate()
        refresh_result = json.loads(refresh_out)
        sampler.stop.set()
        sampler.join()
        # Samples taken once the load generators closed their connections
        # are not the steady state.
        during = [s for s in sampler.samples if s["t"] <= load_ended - 5] or sampler.samples
        report(capacity, rates, minutes, refresh_result, during)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def report(capacity, rates, minutes, refresh_result, samples):
    steady = [s for s in samples if s["t"] >= samples[0]["t"] + 60] or samples
    rss = [s["rss_mb"] for s in steady]
    fds = [s["fds"] for s in steady]
    conns = [s["db_connections"] for s in steady]
    cpu = (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) / max(1, samples[-1]["t"] - samples[0]["t"])
    errors = sum(row[name]["errors"] for row in minutes for name in MIX if name in row) + refresh_result["errors"]
    requests = sum(row[name]["total"] for row in minutes for name in MIX if name in row) + refresh_result["requests"]
    p99_first = {n: minutes[min(1, len(minutes) - 1)][n]["p99_ms"] for n in MIX if n in minutes[0]}
    p99_last = {n: minutes[-1][n]["p99_ms"] for n in MIX if n in minutes[0]}
    rss_spread = (max(rss) - min(rss)) / min(rss)
    verdict = {
        "rss_flat_within_10pct": rss_spread <= 0.10,
        "zero_errors": errors == 0,
        "fds_flat": max(fds) - min(fds) <= 8,
        "db_connections_flat": max(conns) - min(conns) <= 4,
        "p99_stable": all(p99_last[n] <= 2 * max(p99_first[n], 1.0) for n in p99_first),
    }
    print(f"\nSoak: {len(minutes)} minutes, {requests:,} requests, {errors} errors, server CPU {cpu * 100:.0f}% "
          f"of one core on average")
    print(f"RSS {min(rss):.1f}–{max(rss):.1f} MB (spread {rss_spread * 100:.1f}%), fds {min(fds)}–{max(fds)}, "
          f"database connections {min(conns)}–{max(conns)}")
    print(f"refresh rotation: {refresh_result['rps']:.0f}/s, p99 {refresh_result['p99_ms']:.1f} ms, "
          f"{refresh_result['errors']} errors")
    print("| minute | RSS MB | fds | db conns | " + " | ".join(f"{n} req/s · p99 ms" for n in MIX if n in minutes[0]) + " |")
    print("|---:|---:|---:|---:|" + "---:|" * len(p99_first))
    for row in minutes:
        cells = " | ".join(f"{row[n]['rps']:.0f} · {row[n]['p99_ms']:.1f}" for n in MIX if n in row)
        print(f"| {row['minute']} | {row['rss_mb']:.1f} | {row['fds']} | {row['db_connections']} | {cells} |")
    print("verdict: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in verdict.items()))
    os.makedirs(os.path.join(bench.ROOT, "bench", "out"), exist_ok=True)
    path = os.path.join(bench.ROOT, "bench", "out", f"soak-{int(time.time())}.json")
    with open(path, "w") as f:
        json.dump({"capacity": capacity, "rates": rates, "minutes": minutes, "refresh": refresh_result,
                   "samples": samples, "verdict": verdict}, f, indent=1)
    print(f"details: {path}")
    if not all(verdict.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
