#!/usr/bin/env python3
"""Crash test: mixed load against Tessera on Postgres, `kill -9` of the
server at random moments, a restart each time, and the invariants checked
after every restart and at the end:

1. every refresh token a client last received works (or its grant was
   revoked on purpose);
2. every token revoked with an acknowledged answer stays inactive;
3. at most one live refresh token per grant;
4. no 5xx once the restarted server is ready;
5. the audit log holds every admin change that was acknowledged.

The load: client credentials (JWT and opaque), the authorization code flow
with PKCE in a cookie-keeping "browser", refresh chains, personal tokens
created and revoked through the admin API, access tokens revoked, grants
revoked on purpose, and admin changes (scopes created) through the API.

Standard library only. Run through scripts/crash-test, which passes the
binary, the Postgres URL and the number of kills. Exits 0 only when every
invariant held; prints what broke otherwise.
"""

import argparse
import base64
import hashlib
import html
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PASSWORD = "crash test password"
# Chains kept live at once, and revoked tokens re-checked after each restart
# (all of them at the end): enough to catch a lost token, few enough that a
# check takes a second.
MAX_LIVE_CHAINS = 150
REVOKED_SAMPLE = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


class Failures:
    """Invariant violations, collected from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, text):
        with self.lock:
            if len(self.items) < 200:
                self.items.append(text)
            print(f"  FAILED: {text}", flush=True)

    def __bool__(self):
        return bool(self.items)


class Http:
    """One request per connection; `None` when the server is not there."""

    def __init__(self, port, state):
        self.port = port
        self.state = state

    def request(self, method, path, body=None, headers=None, form=None, auth=None, bearer=None):
        headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if bearer:
            headers["Authorization"] = "Bearer " + bearer
        ready_before = self.state.ready.is_set()
        generation = self.state.generation
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            conn.close()
        except (OSError, http.client.HTTPException):
            return None
        if response.status >= 500 and ready_before and self.state.ready.is_set() and generation == self.state.generation:
            self.state.failures.add(f"{method} {path} answered {response.status} while the server was up: {data[:200]!r}")
        return Response(response.status, response.getheaders(), data)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all_headers(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


class State:
    def __init__(self, failures):
        self.failures = failures
        self.ready = threading.Event()
        self.generation = 0
        self.stop = threading.Event()
        self.gate = Gate()
        self.lock = threading.Lock()
        self.chains = []  # Chain
        self.revoked_tokens = []  # (what, token)
        self.scopes_acknowledged = []
        self.counts = {"requests": 0}

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1


class Gate:
    """Workers pass through it between steps; the controller closes it to
    check invariants with no load running."""

    def __init__(self):
        self.cond = threading.Condition()
        self.closed = False
        self.active = 0

    def enter(self):
        with self.cond:
            while self.closed:
                self.cond.wait()
            self.active += 1

    def leave(self):
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closed = True
            while self.active:
                self.cond.wait()

    def open(self):
        with self.cond:
            self.closed = False
            self.cond.notify_all()


class Chain:
    """One sign-in's refresh chain as its client sees it."""

    def __init__(self, refresh_token, grant_id):
        self.lock = threading.Lock()
        self.refresh_token = refresh_token
        self.grant_id = grant_id
        # "live", "revoking" (answer unknown), "revoked" (acknowledged)
        self.status = "live"


class Server:
    def __init__(self, binary, env, log_path):
        self.binary = binary
        self.env = env
        self.log = open(log_path, "ab")
        self.process = None

    def start(self):
        self.process = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log, stderr=self.log)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def cli(binary, env, *args, stdin=None):
    done = subprocess.run([binary, *args], env=env, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tessera {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def psql(url, sql):
    done = subprocess.run(["psql", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"psql failed: {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if line]


# ---------------------------------------------------------------- workers


class Browser:
    """Keeps the session cookie, as a browser would."""

    def __init__(self, http):
        self.http = http
        self.cookies = {}

    def send(self, method, path, form=None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            headers["Sec-Fetch-Site"] = "same-origin"
        response = self.http.request(method, path, form=form, headers=headers)
        if response:
            for value in response.all_headers("Set-Cookie"):
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
        return response


def hidden_fields(page):
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
    return [(html.unescape(k), html.unescape(v)) for k, v in fields]


def code_flow(state, http, setup, browser, username):
    """Signs in (if the browser has no session) and approves; returns the
    token response, or None if the server went away on the way."""
    verifier = b64url(secrets.token_bytes(48))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": setup["app"],
            "redirect_uri": "http://127.0.0.1/cb",
            "scope": "openid offline_access jira:read",
            "state": "crash",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page = browser.send("GET", "/oauth2/authorize?" + query)
    for _ in range(3):
        if page is None:
            return None
        if page.status == 503:
            return None  # the database is away (a failover): try again later
        if page.status in (302, 303):
            location = page.header("Location")
            params = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
            if params.get("error") == ["temporarily_unavailable"]:
                return None
            if "code" not in params:
                state.failures.add(f"authorization went back without a code: {location}")
                return None
            form = {
                "grant_type": "authorization_code",
                "code": params["code"][0],
                "redirect_uri": "http://127.0.0.1/cb",
                "code_verifier": verifier,
                "client_id": setup["app"],
            }
            response = http.request("POST", "/oauth2/token", form=form)
            if response is None or response.status == 503:
                return None
            if response.status != 200:
                state.failures.add(f"code exchange answered {response.status}: {response.body[:200]!r}")
                return None
            return response.json()
        text = page.body.decode()
        fields = hidden_fields(text)
        if 'name="password"' in text:
            fields += [("username", username), ("password", PASSWORD), ("tessera_action", "login")]
        elif "tessera_action" in text and "consent" in text:
            fields += [("tessera_action", "consent")]
        else:
            if page.status == 403:
                return None  # the form expired across a restart: start again
            state.failures.add(f"unexpected authorization page {page.status}: {text[:200]!r}")
            return None
        page = browser.send("POST", "/oauth2/authorize", form=fields)
    return None


def refresh(http, setup, chain):
    form = {"grant_type": "refresh_token", "refresh_token": chain.refresh_token, "client_id": setup["app"]}
    return http.request("POST", "/oauth2/token", form=form)


def run_worker(state, name, step):
    rng = random.Random(name)
    while not state.stop.is_set():
        state.gate.enter()
        try:
            if state.stop.is_set():
                return
            if state.ready.is_set():
                step(rng)
                state.count("steps")
            else:
                time.sleep(0.02)
        except Exception as error:  # a bug in the driver is a failure too
            state.failures.add(f"{name} crashed: {error!r}")
            time.sleep(0.1)
        finally:
            state.gate.leave()


def machine_step(state, http, setup):
    def step(rng):
        client = setup["cc"] if rng.random() < 0.6 else setup["opaque"]
        response = http.request("POST", "/oauth2/token", form={"grant_type": "client_credentials"}, auth=client)
        if response is None or response.status != 200:
            return
        token = response.json()["access_token"]
        if rng.random() < 0.2:
            revoked = http.request("POST", "/oauth2/revoke", form={"token": token}, auth=client)
            if revoked is not None and revoked.status == 200:
                with state.lock:
                    state.revoked_tokens.append(("access token", token))

    return step


def person_step(state, http, setup, username):
    browser = Browser(http)

    def step(rng):
        with state.lock:
            mine = [c for c in state.chains if c.status == "live"]
        if not mine or (len(mine) < MAX_LIVE_CHAINS and rng.random() < 0.25):
            answer = code_flow(state, http, setup, browser, username)
            if answer:
                chain = Chain(answer["refresh_token"], jwt_claims(answer["access_token"])["gid"])
                with state.lock:
                    state.chains.append(chain)
            return
        chain = rng.choice(mine)
        with chain.lock:
            if chain.status != "live":
                return
            response = refresh(http, setup, chain)
            if response is None:
                return  # the answer is lost: the client keeps its last token
            if response.status == 200:
                chain.refresh_token = response.json()["refresh_token"]
            elif chain.status == "live":
                state.failures.add(f"a live chain's refresh answered {response.status}: {response.body[:200]!r}")
                chain.status = "broken"

    return step


def admin_step(state, http, setup):
    counter = {"n": 0}

    def step(rng):
        token = setup["admin_token"]
        roll = rng.random()
        if roll < 0.4:
            counter["n"] += 1
            name = f"crash-{os.getpid()}-{counter['n']}"
            response = http.request("POST", "/api/v1/scopes", body={"name": name}, bearer=token)
            if response is not None and response.status == 201:
                with state.lock:
                    state.scopes_acknowledged.append(name)
        elif roll < 0.8:
            user = rng.choice(setup["users"])
            created = http.request(
                "POST", f"/api/v1/users/{user}/personal-tokens", body={"label": "crash"}, bearer=token
            )
            if created is None or created.status != 201:
                return
            created = created.json()
            if rng.random() < 0.5:
                revoked = http.request("DELETE", f"/api/v1/personal-tokens/{created['id']}", bearer=token)
                if revoked is not None and revoked.status == 204:
                    with state.lock:
                        state.revoked_tokens.append(("personal token", created["token"]))
        else:
            with state.lock:
                live = [c for c in state.chains if c.status == "live"]
            if len(live) < 3:
                return
            chain = rng.choice(live)
            with chain.lock:
                chain.status = "revoking"
                revoked = http.request("DELETE", f"/api/v1/grants/{chain.grant_id}", bearer=token)
                if revoked is not None and revoked.status == 204:
                    chain.status = "revoked"

    return step


# ----------------------------------------------------------- invariants


def check(state, http, setup, database_url, final=False):
    failures = state.failures
    # 1. the last refresh token each client received works.
    with state.lock:
        chains = list(state.chains)
    for chain in chains:
        with chain.lock:
            if chain.status != "live":
                continue
            response = refresh(http, setup, chain)
            if response is None:
                failures.add("the server went away during the checks")
                return
            if response.status == 200:
                chain.refresh_token = response.json()["refresh_token"]
            else:
                failures.add(
                    f"a client's last refresh token (grant {chain.grant_id}) answered {response.status}: "
                    f"{response.body[:200]!r}"
                )
                chain.status = "broken"
    # 2. what was revoked stays inactive.
    with state.lock:
        revoked = list(state.revoked_tokens)
    if not final and len(revoked) > REVOKED_SAMPLE:
        revoked = revoked[-REVOKED_SAMPLE // 2 :] + random.sample(revoked, REVOKED_SAMPLE // 2)
    for what, token in revoked:
        response = http.request("POST", "/oauth2/introspect", form={"token": token}, auth=setup["rs"])
        if response is None:
            failures.add("the server went away during the checks")
            return
        if response.status != 200 or response.json().get("active") is not False:
            failures.add(f"a revoked {what} introspects as {response.status} {response.body[:120]!r}")
    # 3. at most one live refresh token per grant.
    now = int(time.time())
    doubles = psql(
        database_url,
        "SELECT grant_id || ' ' || COUNT(*) FROM refresh_tokens "
        f"WHERE used_at IS NULL AND expires_at > {now} GROUP BY grant_id HAVING COUNT(*) > 1",
    )
    for line in doubles:
        failures.add(f"a grant with several live refresh tokens: {line}")
    # 5. every acknowledged admin change is audited.
    if final:
        audited = set(psql(database_url, "SELECT target FROM audit_events WHERE kind = 'scope.created'"))
        with state.lock:
            acknowledged = list(state.scopes_acknowledged)
        missing = [name for name in acknowledged if f"scope:{name}" not in audited]
        if missing:
            failures.add(f"{len(missing)} acknowledged admin changes are not in the audit log: {missing[:5]}")


# --------------------------------------------------------------- main


def wait_ready(http, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} while starting")
        response = http.request("GET", "/readyz")
        if response is not None and response.status == 200:
            return
        time.sleep(0.05)
    raise SystemExit("the server did not become ready")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()

    failures = Failures()
    state = State(failures)
    port = free_port()
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("TESSERA_") or name == "DATABASE_URL":
            del env[name]
    env.update(
        {
            "TESSERA_DATABASE_URL": args.database_url,
            "TESSERA_DATA_DIR": args.workdir,
            "TESSERA_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "TESSERA_BIND": f"127.0.0.1:{port}",
            "TESSERA_MANAGEMENT_BIND": "off",
            "TESSERA_ISSUER": f"http://127.0.0.1:{port}",
            "TESSERA_BOOTSTRAP_ADMIN_PASSWORD": "crash bootstrap password",
            "TESSERA_WORKERS": "2",
            "TESSERA_LOG": "warn",
        }
    )
    binary = args.binary
    cli(binary, env, "migrate")
    cli(binary, env, "scope", "create", "jira:read")
    cli(binary, env, "service-account", "create", "--username", "svc-crash-admin", "--admin")
    cli(binary, env, "service-account", "create", "--username", "svc-crash-load")

    def client(*extra):
        created = json.loads(cli(binary, env, "client", "create", "--json", *extra))
        return (created["client_id"], created.get("client_secret"))

    setup = {
        "admin": client("--name", "crash admin", "--grant", "client_credentials", "--scope", "tessera:admin",
                        "--service-account", "svc-crash-admin", "--access-token-ttl", "24h"),
        "cc": client("--name", "crash jwt", "--grant", "client_credentials", "--scope", "jira:read",
                     "--service-account", "svc-crash-load"),
        "opaque": client("--name", "crash opaque", "--grant", "client_credentials", "--scope", "jira:read",
                         "--token-format", "opaque"),
        "rs": client("--name", "crash jira", "--grant", "client_credentials", "--scope", "jira:read",
                     "--resource-server"),
        "app": client("--name", "crash app", "--public", "--grant", "authorization_code", "--grant",
                      "refresh_token", "--redirect-uri", "http://127.0.0.1/cb", "--scope", "openid",
                      "--scope", "offline_access", "--scope", "jira:read")[0],
        "users": [],
    }
    for n in range(3):
        username = f"crash-user-{n}"
        cli(binary, env, "user", "create", "--username", username, "--email", f"{username}@example.com",
            "--password-stdin", stdin=PASSWORD + "\n")
        setup["users"].append(username)

    http = Http(port, state)
    server = Server(binary, env, os.path.join(args.workdir, "server.log"))
    server.start()
    wait_ready(http, server.process)
    state.ready.set()
    admin = http.request("POST", "/oauth2/token", form={"grant_type": "client_credentials"}, auth=setup["admin"])
    setup["admin_token"] = admin.json()["access_token"]

    workers = [
        ("machine-1", machine_step(state, http, setup)),
        ("machine-2", machine_step(state, http, setup)),
        ("person-0", person_step(state, http, setup, setup["users"][0])),
        ("person-1", person_step(state, http, setup, setup["users"][1])),
        ("admin", admin_step(state, http, setup)),
    ]
    threads = [threading.Thread(target=run_worker, args=(state, name, step), daemon=True) for name, step in workers]
    for thread in threads:
        thread.start()

    started = time.time()
    rng = random.Random()
    for kill in range(1, args.kills + 1):
        time.sleep(rng.uniform(0.3, 3.0))
        state.ready.clear()
        state.generation += 1
        server.kill()
        server.start()
        wait_ready(http, server.process)
        state.generation += 1
        state.ready.set()
        state.gate.close()
        try:
            check(state, http, setup, args.database_url)
        finally:
            state.gate.open()
        live = sum(1 for c in state.chains if c.status == "live")
        print(
            f"kill {kill}/{args.kills}: restarted and checked; {live} live chains, "
            f"{len(state.revoked_tokens)} revoked tokens, {len(state.scopes_acknowledged)} admin changes, "
            f"{state.counts.get('steps', 0)} steps, {len(failures.items)} failures",
            flush=True,
        )
        if len(failures.items) > 20:
            break
    state.gate.close()
    check(state, http, setup, args.database_url, final=True)
    state.stop.set()
    state.gate.open()
    for thread in threads:
        thread.join(timeout=30)
    server.stop()
    elapsed = time.time() - started
    print(
        f"crash test: {args.kills} kills survived in {elapsed:.0f} s; {len(state.chains)} refresh chains, "
        f"{len(state.revoked_tokens)} revoked tokens, {len(state.scopes_acknowledged)} acknowledged admin "
        f"changes, {state.counts.get('steps', 0)} load steps"
    )
    if failures:
        print(f"crash test FAILED: {len(failures.items)} invariant violations", file=sys.stderr)
        sys.exit(1)
    print("crash test passed: every invariant held")


if __name__ == "__main__":
    main()
