#!/usr/bin/env python3
"""Client-credentials tokens with private_key_jwt beside client_secret_basic,
in one run. Run by hand:

    python3 bench/assertions.py [ROUNDS] [SECONDS]

One Tessera (release build) on a fresh Postgres database, three clients of
one service account: a secret (client_secret_basic), an RS256 key and an
ES256 key (private_key_jwt, keys registered with `--jwks`). The three take
turns, ROUNDS times (default 3), SECONDS each (default 10) at 32
connections (BENCH_CONNECTIONS to change), driven by examples/loadgen.rs, which signs every assertion
(fresh jti) before its clock starts so the client's signing does not
compete with the server. Prints per run and as medians: tokens/s, p99, the
server's CPU time per token, and Postgres's CPU time per token (the jti
record is one INSERT per assertion; this is where it shows).

BENCH_PIN=1 gives Tessera a core of its own, as a node with its database on
another host has: the server runs on CPU 0, Postgres and the load generator
share CPU 1 (Postgres's affinity is restored afterwards). Without it, the
three share both cores and the database's CPU is taken from Tessera's.
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

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
PIN = os.environ.get("BENCH_PIN") == "1"


def postgres_pids():
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().startswith("postgres"):
                        pids.append(pid)
            except OSError:
                pass
    return pids


def pin_postgres(cpus):
    """Every postgres process, the postmaster included, so backends forked
    later inherit the same affinity."""
    for pid in postgres_pids():
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, pid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def postgres_cpu_seconds():
    """utime + stime of every postgres process (the server's backends)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if name.startswith("postgres"):
            total += sum(int(x) for x in stat.rsplit(")", 1)[1].split()[11:13])
    return total / bench.TICKS


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "loadgen"], cwd=bench.ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=bench.ROOT, check=True)
    binary = os.path.join(bench.ROOT, "target", "release", "tessera")
    loadgen = os.path.join(bench.ROOT, "target", "release", "examples", "loadgen")

    database = "tessera_bench_assertions"
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
    bench.run(["psql", bench.ADMIN_URL, "-qc", f"CREATE DATABASE {database}"])
    url = f"http://127.0.0.1:{bench.PORT}"
    folder = tempfile.mkdtemp(prefix="tessera-assertions-")
    env = dict(os.environ, TESSERA_DATABASE_URL=f"{bench.ADMIN_URL.rsplit('/', 1)[0]}/{database}",
               TESSERA_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(), TESSERA_DATA_DIR=folder,
               TESSERA_BIND=f"127.0.0.1:{bench.PORT}", TESSERA_ISSUER=url, TESSERA_LOG="warn",
               TESSERA_MANAGEMENT_BIND="127.0.0.1:19465")
    cli = lambda *args: json.loads(bench.run([binary, *args, "--json"], env=env))  # noqa: E731
    cli("service-account", "create", "--username", "svc-bench")
    cli("scope", "create", "api:read")
    common = ["--grant", "client_credentials", "--scope", "api:read", "--service-account", "svc-bench"]
    secret = cli("client", "create", "--name", "secret", *common)
    keyed = {}
    for alg in ("RS256", "ES256"):
        jwks, key = os.path.join(folder, f"{alg}.jwks"), os.path.join(folder, f"{alg}.key")
        bench.run([loadgen, "keygen", alg, jwks, key])
        client = cli("client", "create", "--name", alg, *common, "--auth-method", "private_key_jwt", "--jwks", jwks)
        keyed[alg] = (client["client_id"], key)

    server_pin = ["taskset", "-c", "0"] if PIN else []
    client_pin = ["taskset", "-c", "1"] if PIN else []
    if PIN:
        pin_postgres("1")
    server = subprocess.Popen([*server_pin, binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = {"client_secret_basic": [], "private_key_jwt RS256": [], "private_key_jwt ES256": []}
    try:
        bench.wait_ready(f"{url}/readyz")
        basic_id = secret["client_id"]
        # More assertions than the fastest rate seen here uses.
        count = str(5_000 * seconds)

        def command(name, duration):
            if name == "client_secret_basic":
                return [*client_pin, loadgen, "basic", url, basic_id, secret["client_secret"], str(CONNECTIONS), str(duration)]
            alg = name.rsplit(" ", 1)[1]
            client_id, key = keyed[alg]
            return [*client_pin, loadgen, "assertion", url, client_id, alg, key, str(CONNECTIONS), str(duration), count]

        for name in runs:  # warm-up
            bench.run(command(name, 2)[:-1] + ["2000"] if name != "client_secret_basic" else command(name, 2))
        for round_ in range(rounds):
            for name in runs:
                # The assertions are signed before the clock starts: time
                # only the requests, by CPU before and after the loadgen's
                # own signing shows in its start-up.
                process = subprocess.Popen(command(name, seconds), stdout=subprocess.PIPE, text=True)
                time.sleep(0.2)
                before, db_before = bench.cpu_seconds(server.pid), postgres_cpu_seconds()
                out, _ = process.communicate()
                used, db_used = bench.cpu_seconds(server.pid) - before, postgres_cpu_seconds() - db_before
                result = json.loads(out)
                done = max(result["requests"], 1)
                row = {"rps": result["rps"], "p99_ms": result["p99_ms"], "errors": result["errors"],
                       "cpu_us": used * 1e6 / done, "db_us": db_used * 1e6 / done}
                runs[name].append(row)
                bench.log(f"round {round_ + 1} {name:>22}: {row['rps']:,.0f} tokens/s, p99 {row['p99_ms']:.1f} ms, "
                          f"{row['cpu_us']:.0f} server CPU-µs, {row['db_us']:.0f} Postgres CPU-µs per token, "
                          f"{row['errors']} errors")
                time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if PIN:
            pin_postgres(f"0-{os.cpu_count() - 1}")

    base = statistics.median(r["rps"] for r in runs["client_secret_basic"])
    print(f"\n| client authentication | tokens/s (median) | vs secret | p99 ms | server CPU-µs/token | "
          f"Postgres CPU-µs/token | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, results in runs.items():
        med = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
        errors = sum(r["errors"] for r in results)
        print(f"| {name} | {med('rps'):,.0f} | {med('rps') / base:.0%} | {med('p99_ms'):.1f} | {med('cpu_us'):.0f} | "
              f"{med('db_us'):.0f} | {errors} |")


if __name__ == "__main__":
    main()
