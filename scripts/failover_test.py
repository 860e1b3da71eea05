#!/usr/bin/env python3
"""Postgres failover under load, on the production topology of docs/ha.md,
built from Debian's packages and started on loopback:

    etcd ── patroni(pg1) ─┐
         └─ patroni(pg2) ─┴─ haproxy (routes to the primary by Patroni's
                               REST check) ── tessera node A, tessera node B

Two Postgres servers under Patroni with synchronous replication
(`synchronous_mode: true`: an acknowledged write is on both). Under load the
primary's postmaster gets SIGKILL; Patroni promotes the replica, HAProxy
follows, and both Tessera nodes must serve again by themselves.

Checked for every failover:
- while the database is away, every answer is a quick 503
  `temporarily_unavailable` (never a hang, never a 500, never a token that
  was not stored, never `active: true` for a revoked token);
- once it is back, no 503 at all: a watcher samples Patroni's primary and
  HAProxy's routing four times a second, and a later 503 is excused only
  when the cluster was still switching at the time (a crashed primary that
  Patroni restarts and then fails over anyway, or HAProxy cutting the
  sessions after two slow checks);
- both nodes issue database-backed tokens again within 10 s, without a
  restart (the time is printed; the median is reported);
- every refresh token a client received before the kill still works, and
  no grant has two live refresh tokens;
- every token revoked before the kill stays inactive.

Standard library only; run through scripts/failover-test.
"""

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_test as load  # noqa: E402  (shared load pieces)

PG_BIN = None
RECOVERY_LIMIT = 10.0
REQUEST_LIMIT = 6.0
# Revoked tokens introspected after each failover: the latest, and a sample.
INVARIANT_RECENT = 200
INVARIANT_SAMPLE = 300


def find_pg_bin():
    for version in sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v), reverse=True):
        path = f"/usr/lib/postgresql/{version}/bin"
        if os.path.exists(os.path.join(path, "initdb")):
            return path
    raise SystemExit("error: no PostgreSQL server binaries under /usr/lib/postgresql")


class Cluster:
    def __init__(self, workdir, owner):
        self.dir = workdir
        self.owner = owner
        self.processes = []
        self.etcd_port = load.free_port()
        self.etcd_peer = load.free_port()
        self.nodes = []
        for name in ("pg1", "pg2"):
            self.nodes.append({"name": name, "pg": load.free_port(), "rest": load.free_port()})
        self.haproxy_port = load.free_port()

    def spawn(self, args, log, as_owner=False):
        if as_owner and os.geteuid() == 0:
            args = ["runuser", "-u", self.owner, "--"] + args
        out = open(os.path.join(self.dir, log), "ab")
        process = subprocess.Popen(args, stdout=out, stderr=out, cwd=self.dir)
        self.processes.append(process)
        return process

    def start(self):
        self.spawn(
            [
                "etcd", "--name", "e1", "--data-dir", os.path.join(self.dir, "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster", f"e1=http://127.0.0.1:{self.etcd_peer}",
                "--enable-v2=true",
            ],
            "etcd.log",
        )
        wait_for(lambda: http_status(f"http://127.0.0.1:{self.etcd_port}/health") == 200, 30, "etcd")
        for node in self.nodes:
            path = os.path.join(self.dir, f"{node['name']}.yml")
            with open(path, "w") as f:
                f.write(self.patroni_config(node))
            self.spawn(["patroni", path], f"{node['name']}.log", as_owner=True)
        wait_for(lambda: self.primary() is not None, 90, "a Patroni primary")
        wait_for(lambda: self.sync_standby() is not None, 90, "a synchronous standby")
        with open(os.path.join(self.dir, "haproxy.cfg"), "w") as f:
            f.write(self.haproxy_config())
        self.spawn(["haproxy", "-db", "-f", os.path.join(self.dir, "haproxy.cfg")], "haproxy.log")
        # HAProxy counts every server up until its checks say otherwise:
        # wait for the standby to be marked down, then for steady routing.
        time.sleep(2)
        wait_for(lambda: all(self.haproxy_routes() for _ in range(5)), 30, "HAProxy to route to the primary")

    def patroni_config(self, node):
        data = os.path.join(self.dir, node["name"])
        return f"""
scope: tessera-failover
name: {node['name']}
restapi:
  listen: 127.0.0.1:{node['rest']}
  connect_address: 127.0.0.1:{node['rest']}
etcd3:
  hosts: 127.0.0.1:{self.etcd_port}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    primary_start_timeout: 0
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: 'on'
        max_connections: 200
        synchronous_commit: 'on'
  initdb:
    - encoding: UTF8
    - auth: trust
postgresql:
  listen: 127.0.0.1:{node['pg']}
  connect_address: 127.0.0.1:{node['pg']}
  data_dir: {data}
  bin_dir: {PG_BIN}
  pgpass: {os.path.join(self.dir, node['name'] + '.pgpass')}
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
    rewind:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: {self.dir}
    fsync: 'on'
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
"""

    def haproxy_config(self):
        servers = "\n".join(
            f"    server {n['name']} 127.0.0.1:{n['pg']} maxconn 200 check port {n['rest']}" for n in self.nodes
        )
        return f"""
global
    maxconn 1000
    stats socket {self.stats_socket()} mode 600 level user
defaults
    mode tcp
    timeout connect 1s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen postgres
    bind 127.0.0.1:{self.haproxy_port}
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{servers}
"""

    def role(self, node, path):
        return http_status(f"http://127.0.0.1:{node['rest']}{path}") == 200

    def primary(self):
        return next((n for n in self.nodes if self.role(n, "/primary")), None)

    def sync_standby(self):
        return next((n for n in self.nodes if self.role(n, "/sync")), None)

    def haproxy_routes(self):
        done = subprocess.run(
            ["psql", self.database_url("postgres"), "-At", "-c", "SELECT NOT pg_is_in_recovery()"],
            capture_output=True, text=True,
        )
        return done.returncode == 0 and done.stdout.strip() == "t"

    def stats_socket(self):
        return os.path.join(self.dir, "haproxy.sock")

    def routed(self):
        """The servers HAProxy counts up (its stats socket), or None when unreadable."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(self.stats_socket())
                sock.sendall(b"show stat\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return None
        lines = data.decode(errors="replace").splitlines()
        if not lines or not lines[0].startswith("# "):
            return None
        header = lines[0][2:].split(",")
        name, status = header.index("svname"), header.index("status")
        up = []
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) > status and fields[name] not in ("FRONTEND", "BACKEND") and fields[status].startswith("UP"):
                up.append(fields[name])
        return tuple(sorted(up))

    def database_url(self, name):
        return f"postgres://postgres@127.0.0.1:{self.haproxy_port}/{name}"

    def postmaster_pid(self, node):
        with open(os.path.join(self.dir, node["name"], "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
        # Postgres servers a stopped Patroni left behind.
        subprocess.run(["pkill", "-9", "-f", f"{PG_BIN}/postgres -D {self.dir}"], capture_output=True)


def http_status(url):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: timed out waiting for {what}")


class Node:
    def __init__(self, name, binary, env, workdir):
        self.name = name
        self.port = load.free_port()
        self.env = dict(env, TESSERA_BIND=f"127.0.0.1:{self.port}", TESSERA_MANAGEMENT_BIND="off", TESSERA_ISSUER=f"http://127.0.0.1:{self.port}")
        self.server = load.Server(binary, self.env, os.path.join(workdir, f"tessera-{name}.log"))
        self.state = load.State(load.Failures())  # never "ready": answers are judged here
        self.http = load.Http(self.port, self.state)


class Watcher:
    """Samples, four times a second, which server Patroni calls primary and
    which servers HAProxy routes to, so that a 503 after a failover can be
    told apart: the database really was away (Patroni switched primaries
    again, or HAProxy's checks cut the sessions) or it was up all along
    (a defect)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.samples = []  # (time, primary, routed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                primary = self.cluster.primary()
                primary = primary["name"] if primary else None
            except Exception:
                primary = None
            routed = self.cluster.routed()
            with self.lock:
                self.samples.append((time.time(), primary, routed))
            self.stop.wait(0.25)

    def unsettled(self, start, end):
        """Did the primary or the routing change, or go missing, between
        `start` and `end`? The sample just before `start` counts too."""
        with self.lock:
            samples = list(self.samples)
        window = [s for s in samples if start <= s[0] <= end]
        before = [s for s in samples if s[0] < start][-1:]
        seen = before + window
        if not window:
            return True  # nothing known: not held against the server
        for (_, primary, routed) in seen:
            if primary is None or routed is None or len(routed) != 1 or routed[0] != primary:
                return True
        return len({(p, r) for (_, p, r) in seen}) > 1

    def describe(self, start, end):
        """The states between `start` and `end`, repeats folded:
        `primary pg2 routed pg2 → primary - routed - → …`."""
        with self.lock:
            samples = [s for s in self.samples if start <= s[0] <= end]
        states = []
        for (_, primary, routed) in samples:
            state = f"primary {primary or '-'} routed {','.join(routed) if routed else '-'}"
            if not states or states[-1] != state:
                states.append(state)
        return " → ".join(states)


class Observer:
    """Classifies every answer of the load during and after a failover."""

    def __init__(self, failures, watcher):
        self.failures = failures
        self.watcher = watcher
        self.lock = threading.Lock()
        self.counts = {}
        self.in_failover = threading.Event()
        self.later = []  # 503s after a failover, judged once the samples are in

    def note(self, what, response, elapsed):
        with self.lock:
            key = "connection error" if response is None else str(response.status)
            self.counts[key] = self.counts.get(key, 0) + 1
        if elapsed > REQUEST_LIMIT:
            self.failures.add(f"{what} took {elapsed:.1f} s: a request must never hang")
        if response is None:
            return
        if response.status >= 500:
            body = response.body[:200]
            if response.status != 503 or b"temporarily_unavailable" not in body and b"unavailable" not in body:
                self.failures.add(f"{what} answered {response.status}: {body!r}")
            elif not self.in_failover.is_set():
                finished = time.time()
                with self.lock:
                    self.later.append((finished - elapsed, finished, what, body))

    def judge_later(self):
        """A 503 outside a failover is a defect unless the cluster was
        moving at the time (the request's span, with a second either side)."""
        excused = 0
        with self.lock:
            later = list(self.later)
        for started, finished, what, body in later:
            if self.watcher.unsettled(started - 1.0, finished + 1.0):
                if not excused:
                    print(f"a 503 after a failover ({what}) came while the cluster went: "
                          f"{self.watcher.describe(started - 3.0, finished + 1.0)}")
                excused += 1
            else:
                self.failures.add(f"{what} answered 503 with the database up: {body!r}")
        return excused


def main():
    global PG_BIN
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--failovers", type=int, default=2)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--owner", default="postgres")
    args = parser.parse_args()
    PG_BIN = find_pg_bin()
    failures = load.Failures()

    cluster = Cluster(args.workdir, args.owner)
    nodes = []
    try:
        print("starting etcd, two Postgres servers under Patroni, HAProxy …", flush=True)
        cluster.start()
        wait_for(
            lambda: subprocess.run(
                ["psql", cluster.database_url("postgres"), "-qc", "CREATE DATABASE tessera"], capture_output=True
            ).returncode == 0
            or cluster.haproxy_routes() and load.psql(cluster.database_url("postgres"),
                                                      "SELECT 1 FROM pg_database WHERE datname = 'tessera'"),
            30,
            "the tessera database",
        )
        database_url = cluster.database_url("tessera")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_") and k != "DATABASE_URL"}
        env.update(
            {
                "TESSERA_DATABASE_URL": database_url,
                "TESSERA_DATA_DIR": args.workdir,
                "TESSERA_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
                "TESSERA_BOOTSTRAP_ADMIN_PASSWORD": "failover bootstrap password",
                "TESSERA_DATABASE_TIMEOUT_SECONDS": "2",
                "TESSERA_WORKERS": "2",
                "TESSERA_LOG": "warn",
            }
        )
        binary = args.binary
        load.cli(binary, env, "migrate")
        load.cli(binary, env, "scope", "create", "jira:read")
        load.cli(binary, env, "service-account", "create", "--username", "svc-failover")

        def client(*extra):
            created = json.loads(load.cli(binary, env, "client", "create", "--json", *extra))
            return (created["client_id"], created.get("client_secret"))

        setup = {
            "cc": client("--name", "failover jwt", "--grant", "client_credentials", "--scope", "jira:read",
                         "--service-account", "svc-failover"),
            "opaque": client("--name", "failover opaque", "--grant", "client_credentials", "--scope",
                             "jira:read", "--token-format", "opaque"),
            "rs": client("--name", "failover jira", "--grant", "client_credentials", "--scope", "jira:read",
                         "--resource-server"),
            "app": client("--name", "failover app", "--public", "--grant", "authorization_code", "--grant",
                          "refresh_token", "--redirect-uri", "http://127.0.0.1/cb", "--scope", "openid",
                          "--scope", "offline_access", "--scope", "jira:read")[0],
        }
        load.cli(binary, env, "user", "create", "--username", "failover-user", "--email",
                 "failover@example.com", "--password-stdin", stdin=load.PASSWORD + "\n")
        for name in ("a", "b"):
            node = Node(name, binary, env, args.workdir)
            node.server.start()
            load.wait_ready(node.http, node.server.process)
            nodes.append(node)
        print(f"cluster up: primary {cluster.primary()['name']}, tessera nodes on {[n.port for n in nodes]}",
              flush=True)

        watcher = Watcher(cluster)
        watcher.thread.start()
        observer = Observer(failures, watcher)
        chains = []
        chains_lock = threading.Lock()
        revoked = []
        stop = threading.Event()
        gate = load.Gate()

        def timed(node, what, call):
            started = time.time()
            response = call(node.http)
            observer.note(f"{what} on node {node.name}", response, time.time() - started)
            return response

        def machine_step(rng):
            node = rng.choice(nodes)
            client = setup["opaque"] if rng.random() < 0.5 else setup["cc"]
            form = {"grant_type": "client_credentials"}
            response = timed(node, "client credentials",
                             lambda h: h.request("POST", "/oauth2/token", form=form, auth=client))
            if response is not None and response.status == 200 and rng.random() < 0.2:
                token = response.json()["access_token"]
                form = {"token": token}
                answer = timed(node, "revocation",
                               lambda h: h.request("POST", "/oauth2/revoke", form=form, auth=client))
                if answer is not None and answer.status == 200:
                    with chains_lock:
                        revoked.append(token)
            if response is None or response.status != 200:
                time.sleep(0.05)

        browsers = {n.name: load.Browser(n.http) for n in nodes}

        def person_step(rng):
            node = rng.choice(nodes)
            with chains_lock:
                live = [c for c in chains if c.status == "live"]
            if len(live) < 40 and (not live or rng.random() < 0.3):
                started = time.time()
                answer = load.code_flow(load.State(failures), node.http, setup, browsers[node.name], "failover-user")
                if time.time() - started > 4 * REQUEST_LIMIT:
                    failures.add("a sign-in flow hung")
                if answer:
                    with chains_lock:
                        chains.append(load.Chain(answer["refresh_token"], load.jwt_claims(answer["access_token"])["gid"]))
                else:
                    time.sleep(0.05)
                return
            chain = rng.choice(live)
            with chain.lock:
                response = timed(node, "refresh", lambda h: load.refresh(h, setup, chain))
                if response is not None and response.status == 200:
                    chain.refresh_token = response.json()["refresh_token"]
                elif response is not None and response.status != 503:
                    failures.add(f"refresh of a live chain answered {response.status}: {response.body[:200]!r}")
                    chain.status = "broken"
                else:
                    time.sleep(0.05)

        def introspection_step(rng):
            with chains_lock:
                sample = rng.sample(revoked, min(5, len(revoked)))
            for token in sample:
                node = rng.choice(nodes)
                form = {"token": token}
                response = timed(node, "introspection of a revoked token",
                                 lambda h: h.request("POST", "/oauth2/introspect", form=form, auth=setup["rs"]))
                if response is not None and response.status == 200 and response.json().get("active"):
                    failures.add("a revoked token introspected as active")
            time.sleep(0.05)

        def worker(seed, step):
            rng = random.Random(seed)
            while not stop.is_set():
                gate.enter()
                try:
                    if stop.is_set():
                        return
                    step(rng)
                finally:
                    gate.leave()

        steps = [(0, machine_step), (1, machine_step), (2, machine_step), (10, person_step), (11, person_step),
                 (20, introspection_step)]
        threads = [threading.Thread(target=worker, args=step, daemon=True) for step in steps]
        for thread in threads:
            thread.start()

        def probe(node):
            form = {"grant_type": "client_credentials"}
            response = node.http.request("POST", "/oauth2/token", form=form, auth=setup["opaque"])
            return response is not None and response.status == 200

        recoveries = []
        time.sleep(3)
        for round_ in range(1, args.failovers + 1):
            wait_for(lambda: cluster.sync_standby() is not None and cluster.primary() is not None, 120,
                     "a primary with a synchronous standby")
            wait_for(lambda: all(probe(n) for n in nodes), 30, "both nodes serving before the kill")
            time.sleep(random.uniform(1.0, 3.0))
            old = cluster.primary()
            pid = cluster.postmaster_pid(old)
            observer.in_failover.set()
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            # Both nodes issue database-backed tokens again.
            back = {}
            while len(back) < len(nodes) and time.time() - killed_at < 60:
                for node in nodes:
                    if node.name not in back and probe(node):
                        back[node.name] = time.time() - killed_at
                time.sleep(0.05)
            if len(back) < len(nodes):
                failures.add(f"failover {round_}: a node did not serve again within 60 s")
                break
            recovered = max(back.values())
            recoveries.append(recovered)
            new = cluster.primary()
            time.sleep(1.0)
            observer.in_failover.clear()
            print(
                f"failover {round_}: killed {old['name']}'s postmaster; primary now "
                f"{new['name'] if new else '?'}; both nodes issue tokens after {recovered:.2f} s "
                f"(A {back['a']:.2f} s, B {back['b']:.2f} s)",
                flush=True,
            )
            if recovered > RECOVERY_LIMIT:
                failures.add(f"failover {round_}: tokens again only after {recovered:.1f} s (limit {RECOVERY_LIMIT} s)")
            # The invariants, with the load paused.
            gate.close()
            try:
                check_invariants(nodes, setup, chains, chains_lock, revoked, database_url, failures)
            finally:
                gate.open()

        stop.set()
        gate.close()
        check_invariants(nodes, setup, chains, chains_lock, revoked, database_url, failures)
        gate.open()
        for thread in threads:
            thread.join(timeout=30)
        with observer.lock:
            counts = dict(observer.counts)
        watcher.stop.set()
        excused = observer.judge_later()
        print(f"answers seen: {counts}")
        if excused:
            print(f"{excused} 503s after a failover came while Patroni or HAProxy was still switching (not held against Tessera)")
        print(f"chains: {len(chains)}, revoked tokens: {len(revoked)}")
        if recoveries:
            print(
                f"failover test: {len(recoveries)} failovers; time until both nodes issue tokens again: "
                f"median {statistics.median(recoveries):.2f} s, max {max(recoveries):.2f} s "
                f"({', '.join(f'{r:.2f}' for r in recoveries)})"
            )
    finally:
        for node in nodes:
            node.server.stop()
        cluster.stop()
    if failures:
        print(f"failover test FAILED: {len(failures.items)} problems", file=sys.stderr)
        sys.exit(1)
    print("failover test passed: every invariant held")


def check_invariants(nodes, setup, chains, chains_lock, revoked, database_url, failures):
    with chains_lock:
        live = [c for c in chains if c.status == "live"]
        # The latest revocations and a sample of the rest: introspecting
        # thousands of inactive tokens a minute is what the scanning
        # throttle answers with 429, and the list grows with every round.
        tokens = revoked[-INVARIANT_RECENT:]
        older = revoked[:-INVARIANT_RECENT]
        tokens += random.sample(older, min(INVARIANT_SAMPLE, len(older)))
    for index, chain in enumerate(live):
        node = nodes[index % len(nodes)]
        with chain.lock:
            response = load.refresh(node.http, setup, chain)
            if response is not None and response.status == 200:
                chain.refresh_token = response.json()["refresh_token"]
            else:
                status = None if response is None else response.status
                failures.add(f"a refresh token received before the kill does not work: {status}")
                chain.status = "broken"
    for index, token in enumerate(tokens):
        node = nodes[index % len(nodes)]
        response = node.http.request("POST", "/oauth2/introspect", form={"token": token}, auth=setup["rs"])
        if response is None or response.status != 200 or response.json().get("active") is not False:
            answer = "no answer" if response is None else f"{response.status} {response.body[:120]!r}"
            failures.add(f"a token revoked before the kill is not inactive: {answer}")
    now = int(time.time())
    doubles = load.psql(
        database_url,
        "SELECT grant_id FROM refresh_tokens "
        f"WHERE used_at IS NULL AND expires_at > {now} GROUP BY grant_id HAVING COUNT(*) > 1",
    )
    for grant in doubles:
        failures.add(f"grant {grant} has two live refresh tokens")


if __name__ == "__main__":
    main()
