#!/usr/bin/env python3
"""Tessera behind HAProxy: the driver behind scripts/proxy-test.

HAProxy listens with TLS (a certificate made here with openssl) on a free
loopback port and forwards to Tessera from 127.0.0.2, the only address in
TESSERA_TRUSTED_PROXIES; clients connect from 127.0.0.1. Through the proxy:
a client-credentials token, a whole authorization-code flow (sign-in,
consent, code, exchange) with the https issuer's secure cookies, and a
failed authentication carrying a forged X-Forwarded-For. Tessera's JSON log
must name 127.0.0.1 (never the proxy, never the forged address) as the
client, and carry HAProxy's request id. Exits 0 only when all of that holds.
"""

import base64
import functools
import hashlib
import http.cookiejar
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import failer, free_port, stop_all  # noqa: E402

fail = failer("proxy test")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402  (fetch, NoRedirect, hidden_fields, code_from)

BINARY = os.path.join(ROOT, "target", "debug", "tessera")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PROXY_SOURCE = "127.0.0.2"


def main():
    work = tempfile.mkdtemp(prefix="tessera-proxy-")
    port, management, public = free_port(), free_port(), free_port()
    issuer = f"https://127.0.0.1:{public}"
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    bundle = os.path.join(work, "haproxy.pem")
    with open(bundle, "w") as f:
        f.write(open(cert).read() + open(key).read())
    tls = ssl.create_default_context(cafile=cert)

    env = dict(
        os.environ,
        TESSERA_DATA_DIR=work,
        TESSERA_DATABASE_URL=f"sqlite://{work}/tessera.db",
        TESSERA_BIND=f"127.0.0.1:{port}",
        TESSERA_MANAGEMENT_BIND=f"127.0.0.1:{management}",
        TESSERA_ISSUER=issuer,
        TESSERA_TRUSTED_PROXIES=PROXY_SOURCE,
        TESSERA_BOOTSTRAP_ADMIN_PASSWORD="proxy test admin",
        TESSERA_LOG_FORMAT="json",
        TESSERA_LOG="info",
    )
    env.pop("TESSERA_MASTER_KEY", None)
    processes = []

    def cli(*args, stdin=None):
        out = subprocess.run([BINARY, *args, "--json"], env=env, check=True, capture_output=True, text=True,
                             input=stdin)
        return json.loads(out.stdout)

    try:
        cli("service-account", "create", "--username", "svc-proxy")
        cli("scope", "create", "api:read")
        machine = cli("client", "create", "--name", "machine", "--grant", "client_credentials", "--scope",
                      "api:read", "--service-account", "svc-proxy")
        web = cli("client", "create", "--name", "web", "--grant", "authorization_code", "--redirect-uri",
                  "http://127.0.0.1/cb", "--scope", "openid")
        cli("user", "create", "--username", "jane", "--email", "jane@example.com", "--password-stdin",
            stdin="jane's password 1\n")
        log_path = os.path.join(work, "tessera.log")
        server = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        processes.append(server)

        # The configuration of docs/operations.md, on loopback ports.
        config = os.path.join(work, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(f"""
global
    log stderr format raw local0 err
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend https
    bind 127.0.0.1:{public} ssl crt {bundle}
    mode http
    http-request del-header X-Forwarded-For
    http-request del-header Forwarded
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    unique-id-format %{{+X}}o%ci%cp%fi%fp%Ts%rt
    http-request set-header X-Request-Id %[unique-id]
    default_backend tessera
backend tessera
    mode http
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    server tessera-1 127.0.0.1:{port} check inter 500ms source {PROXY_SOURCE}
""")
        subprocess.run([HAPROXY, "-c", "-f", config], check=True, capture_output=True)
        proxy = subprocess.Popen([HAPROXY, "-db", "-f", config], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "haproxy.log"), "w"))
        processes.append(proxy)

        https = urllib.request.HTTPSHandler(context=tls)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(https, urllib.request.HTTPCookieProcessor(jar), bench.NoRedirect())

        fetch = functools.partial(bench.fetch, opener)

        deadline = time.time() + 30
        while True:
            try:
                if fetch(f"{issuer}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                fail("Tessera did not become ready behind HAProxy")
            time.sleep(0.3)

        # 1. A machine token through the proxy.
        status, headers, body = fetch(f"{issuer}/oauth2/token", {"grant_type": "client_credentials"},
                                      f"{machine['client_id']}:{machine['client_secret']}")
        if status != 200 or "access_token" not in body:
            fail(f"token through the proxy: {status} {body}")
        token_request_id = headers.get("X-Request-Id") or headers.get("x-request-id")

        # 2. A whole authorization-code flow through it (secure cookies, https issuer).
        verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        authorize = f"{issuer}/oauth2/authorize?" + urllib.parse.urlencode({
            "client_id": web["client_id"], "response_type": "code", "redirect_uri": "http://127.0.0.1/cb",
            "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256", "state": "s1"})
        _, _, login = fetch(authorize)
        status, _, consent = fetch(f"{issuer}/oauth2/authorize", {
            **bench.hidden_fields(login), "username": "jane", "password": "jane's password 1",
            "tessera_action": "login"})
        if status != 200 or "tessera_action" not in consent:
            fail(f"sign-in through the proxy: {status}")
        status, headers, _ = fetch(f"{issuer}/oauth2/authorize",
                                   {**bench.hidden_fields(consent), "tessera_action": "consent"})
        if status != 303:
            fail(f"consent through the proxy: {status}")
        status, _, body = fetch(f"{issuer}/oauth2/token", {
            "grant_type": "authorization_code", "code": bench.code_from(headers),
            "redirect_uri": "http://127.0.0.1/cb", "code_verifier": verifier},
            f"{web['client_id']}:{web['client_secret']}")
        if status != 200 or "id_token" not in body:
            fail(f"code exchange through the proxy: {status} {body}")

        # 3. A failed authentication with a forged X-Forwarded-For.
        status, _, _ = fetch(f"{issuer}/oauth2/token", {"grant_type": "client_credentials"},
                             f"{machine['client_id']}:wrong", headers={"X-Forwarded-For": "6.6.6.6"})
        if status != 401:
            fail(f"a wrong secret answered {status}")

        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        lines = [json.loads(line) for line in open(log_path) if line.strip()]
        access = [l for l in lines if l["target"] == "tessera::access" and l["path"] != "/readyz"]
        audits = [l for l in lines if l["target"] == "tessera::audit" and l["kind"] == "client_auth_failed"]
        clients = {l["client"] for l in access}
        if clients != {"127.0.0.1"}:
            fail(f"the access log should name the client 127.0.0.1 only (not the proxy {PROXY_SOURCE}): {clients}")
        if not audits or audits[-1]["address"] != "127.0.0.1":
            fail(f"the failed authentication's audit line names {audits and audits[-1]['address']}, not 127.0.0.1")
        if any("6.6.6.6" in json.dumps(l) for l in lines):
            fail("the forged X-Forwarded-For reached the log")
        ids = {l["request_id"] for l in access}
        if not token_request_id or token_request_id not in ids:
            fail(f"HAProxy's request id {token_request_id} is not on Tessera's access line")
        print(f"through HAProxy (TLS): token, code flow and a refused secret; {len(access)} access lines "
              f"all name 127.0.0.1; HAProxy's request ids carried")
        print("proxy test passed")
    finally:
        stop_all(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
