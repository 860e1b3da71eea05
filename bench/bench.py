#!/usr/bin/env python3
"""Load benchmark of Tessera on Postgres, side by side with the peer
(node-oidc-provider, ../shared/peer-oidc-provider) in the same run.

Prints client-credentials tokens/s, introspections/s and JWKS requests/s at
16 and 64 connections with p50/p99 latency, server CPU-µs per request and
peak RSS. Run by hand, not in CI:

    python3 bench/bench.py                 # both servers, 10 s per run
    BENCH_DURATION=20s BENCH_PEER=0 python3 bench/bench.py

Needs: cargo (installs oha if missing), a Postgres server
(BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres; the
database tessera_bench is dropped and recreated), node + npm for the peer.
"""

import base64
import html
import http.cookiejar
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "16,64").split(",")]
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PORT = 18080
PEER_PORT = 13000
TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs).stdout


def ensure_oha():
    if shutil.which("oha"):
        return "oha"
    cargo_bin = os.path.expanduser("~/.cargo/bin/oha")
    if os.path.exists(cargo_bin):
        return cargo_bin
    log("installing the load generator: cargo install oha --locked")
    subprocess.run(["cargo", "install", "oha", "--locked"], check=True)
    return cargo_bin


def cpu_seconds(pid):
    """utime + stime of a process and its reaped children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"error: {url} did not become ready")


def post(url, body, user=None, password=None):
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def load(oha, pid, name, url, connections, method="GET", body=None, auth=None):
    args = [oha, "-z", DURATION, "-c", str(connections), "--no-tui", "--output-format", "json", "-m", method]
    if body is not None:
        args += ["-d", body, "-T", "application/x-www-form-urlencoded"]
    if auth:
        args += ["-a", auth]
    subprocess.run(args[:3] + ["-z", "2s"] + args[5:] + [url], capture_output=True)  # warm-up
    before = cpu_seconds(pid)
    result = json.loads(run(args + [url]))
    used = cpu_seconds(pid) - before
    summary = result["summary"]
    total = sum(result.get("statusCodeDistribution", {}).values())
    ok = result.get("statusCodeDistribution", {}).get("200", 0)
    percentiles = result["latencyPercentiles"]
    return {
        "scenario": name,
        "connections": connections,
        "rps": summary["requestsPerSec"],
        "p50_ms": percentiles["p50"] * 1000,
        "p99_ms": percentiles["p99"] * 1000,
        "cpu_us": used * 1e6 / total if total else float("nan"),
        "ok": ok,
        "total": total,
    }


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    return opener, jar


def fetch(opener, url, form=None, auth=None, headers=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def hidden_fields(page):
    return {html.unescape(n): html.unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def code_from(headers):
    location = headers.get("Location") or headers.get("location")
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]


def flows(binary, env, url, pid):
    """Refresh rotation and code exchange, driven by examples/loadgen.rs."""
    subprocess.run([binary, "user", "create", "--username", "bench", "--email", "bench@example.com", "--password-stdin"],
                   input="bench password 1\n", env=env, check=True, capture_output=True, text=True)
    client = json.loads(run([binary, "client", "create", "--name", "bench-web", "--grant", "authorization_code",
                             "--grant", "refresh_token", "--redirect-uri", "http://127.0.0.1/cb", "--scope", "openid",
                             "--scope", "offline_access", "--json"], env=env))
    cid, secret = client["client_id"], client["client_secret"]
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    authorize = f"{url}/oauth2/authorize?" + urllib.parse.urlencode({
        "client_id": cid, "response_type": "code", "redirect_uri": "http://127.0.0.1/cb",
        "scope": "openid offline_access", "code_challenge": challenge, "code_challenge_method": "S256"})
    opener, jar = browser()
    _, _, login = fetch(opener, authorize)
    _, _, consent = fetch(opener, f"{url}/oauth2/authorize",
                          {**hidden_fields(login), "username": "bench", "password": "bench password 1", "tessera_action": "login"})
    status, headers, _ = fetch(opener, f"{url}/oauth2/authorize", {**hidden_fields(consent), "tessera_action": "consent"})
    assert status == 303, status
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)

    # Refresh chains start from a grant without openid: each refresh is then
    # what the target measures, one rotation (an atomic write) and one
    # signature; with openid every refresh also signs an ID token.
    offline = authorize.replace("scope=openid+offline_access", "scope=offline_access")

    def refresh_token():
        status, headers, _ = fetch(opener, offline)
        assert status == 302, status
        form = {"grant_type": "authorization_code", "code": code_from(headers),
                "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}
        return json.loads(fetch(opener, f"{url}/oauth2/token", form, f"{cid}:{secret}")[2])["refresh_token"]

    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "loadgen"], cwd=ROOT, check=True)
    loadgen = os.path.join(ROOT, "target", "release", "examples", "loadgen")
    seconds = DURATION.rstrip("s")
    results = []
    for c in CONNECTIONS:
        with tempfile.NamedTemporaryFile("w", delete=False) as tokens:
            tokens.write("\n".join(refresh_token() for _ in range(c)))
        before = cpu_seconds(pid)
        out = json.loads(run([loadgen, "refresh", url, cid, secret, tokens.name, seconds]))
        os.unlink(tokens.name)
        out["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(out["requests"], 1)
        results.append({"scenario": "refresh_token rotation", "connections": c, **out})
        before = cpu_seconds(pid)
        out = json.loads(run([loadgen, "code", url, cid, secret, cookie, authorize, str(c), seconds]))
        # each round is an authorize redirect plus the exchange: CPU is per round
        out["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(out["requests"], 1)
        results.append({"scenario": "authorize + code exchange (round)", "connections": c, **out})
    return results


def tessera(oha):
    build = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    if build.returncode != 0:
        raise SystemExit("error: cargo build --release failed")
    binary = os.path.join(ROOT, "target", "release", "tessera")
    database = "tessera_bench"
    run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
    run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {database}"])
    base = ADMIN_URL.rsplit("/", 1)[0]
    data = tempfile.mkdtemp(prefix="tessera-bench-")
    env = dict(
        os.environ,
        TESSERA_DATABASE_URL=f"{base}/{database}",
        TESSERA_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        TESSERA_DATA_DIR=data,
        TESSERA_BIND=f"127.0.0.1:{PORT}",
        TESSERA_MANAGEMENT_BIND="off",
        TESSERA_LOG="warn",
    )
    cli = lambda *args: json.loads(run([binary, *args, "--json"], env=env))
    cli("service-account", "create", "--username", "svc-bench")
    cli("scope", "create", "api:read")
    common = ["--grant", "client_credentials", "--scope", "api:read", "--service-account", "svc-bench"]
    jwt_client = cli("client", "create", "--name", "bench-jwt", *common)
    opaque_client = cli("client", "create", "--name", "bench-opaque", "--token-format", "opaque", *common)
    resource_server = cli("client", "create", "--name", "bench-rs", "--grant", "client_credentials", "--resource-server")
    subprocess.run([binary, "user", "create", "--username", "bench-person", "--email", "bench@example.com", "--password-stdin"],
                   env=env, input="bench person password\n", text=True, check=True, stdout=subprocess.DEVNULL)
    personal = cli("token", "create", "--user", "bench-person", "--label", "bench", "--scope", "api:read")["token"]
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{PORT}"
        wait_ready(f"{url}/readyz")
        auth = lambda c: f"{c['client_id']}:{c['client_secret']}"
        rs_user, rs_pass = resource_server["client_id"], resource_server["client_secret"]
        jwt = post(f"{url}/oauth2/token", "grant_type=client_credentials", jwt_client["client_id"], jwt_client["client_secret"])["access_token"]
        opaque = post(f"{url}/oauth2/token", "grant_type=client_credentials", opaque_client["client_id"], opaque_client["client_secret"])["access_token"]
        assert post(f"{url}/oauth2/introspect", f"token={jwt}", rs_user, rs_pass)["active"] is True
        assert post(f"{url}/oauth2/introspect", f"token={opaque}", rs_user, rs_pass)["active"] is True
        assert post(f"{url}/oauth2/introspect", f"token={personal}", rs_user, rs_pass)["active"] is True
        results = []
        for c in CONNECTIONS:
            results.append(load(oha, server.pid, "client_credentials (JWT RS256)", f"{url}/oauth2/token", c, "POST", "grant_type=client_credentials", auth(jwt_client)))
            results.append(load(oha, server.pid, "introspection (JWT)", f"{url}/oauth2/introspect", c, "POST", f"token={jwt}", f"{rs_user}:{rs_pass}"))
            results.append(load(oha, server.pid, "introspection (opaque)", f"{url}/oauth2/introspect", c, "POST", f"token={opaque}", f"{rs_user}:{rs_pass}"))
            results.append(load(oha, server.pid, "introspection (personal token)", f"{url}/oauth2/introspect", c, "POST", f"token={personal}", f"{rs_user}:{rs_pass}"))
            results.append(load(oha, server.pid, "jwks", f"{url}/oauth2/jwks", c))
        flow_results = flows(binary, env, url, server.pid) if os.environ.get("BENCH_FLOWS", "1") != "0" else []
        return results, flow_results, peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def peer(oha):
    if os.environ.get("BENCH_PEER", "1") == "0" or not shutil.which("node"):
        log("skipping the peer (BENCH_PEER=0 or no node)")
        return [], None
    source = os.path.join(ROOT, "..", "shared", "peer-oidc-provider")
    work = os.path.join(tempfile.gettempdir(), "tessera-bench-peer")
    if not os.path.exists(os.path.join(work, "node_modules")):
        shutil.copytree(source, work, dirs_exist_ok=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=work, check=True)
    env = dict(os.environ, PORT=str(PEER_PORT), NODE_ENV="production")
    server = subprocess.Popen(["node", "server.js"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{PEER_PORT}"
        wait_ready(f"{url}/jwks")
        auth = "bench-client:bench-secret"
        opaque = post(f"{url}/token", "grant_type=client_credentials&resource=urn:bench:opaque", "bench-client", "bench-secret")["access_token"]
        results = []
        for c in CONNECTIONS:
            results.append(load(oha, server.pid, "client_credentials (JWT RS256)", f"{url}/token", c, "POST", "grant_type=client_credentials", auth))
            results.append(load(oha, server.pid, "introspection (opaque)", f"{url}/token/introspection", c, "POST", f"token={opaque}", auth))
            results.append(load(oha, server.pid, "jwks", f"{url}/jwks", c))
        return results, peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def table(title, results, rss):
    print(f"\n### {title}" + (f" — peak RSS {rss:.0f} MB" if rss else ""))
    print("| scenario | conns | req/s | p50 ms | p99 ms | server CPU-µs/req | non-200 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['scenario']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_us']:.0f} | {r['total'] - r['ok']} |")


def main():
    oha = ensure_oha()
    ours, our_flows, our_rss = tessera(oha)
    theirs, their_rss = peer(oha)
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · {DURATION} per run · load generator on the same machine")
    table("Tessera (Postgres)", ours, our_rss)
    if our_flows:
        print("\n### Tessera, stateful flows (examples/loadgen.rs)")
        print("| scenario | conns | per s | p50 ms | p99 ms | server CPU-µs | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in our_flows:
            print(f"| {r['scenario']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_us']:.0f} | {r['errors']} |")
    if theirs:
        table("node-oidc-provider 9 (in memory)", theirs, their_rss)
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, time.strftime("results-%Y%m%d-%H%M%S.json")), "w") as f:
        json.dump({"tessera": ours, "tessera_flows": our_flows, "tessera_rss_mb": our_rss, "peer": theirs, "peer_rss_mb": their_rss}, f, indent=2)


if __name__ == "__main__":
    main()
