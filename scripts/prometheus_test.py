#!/usr/bin/env python3
"""Prometheus scrapes Tessera: the driver behind scripts/prometheus-test.

Starts `tessera serve` (embedded SQLite in a temporary folder) with its
management listener on a free port, and Debian's `prometheus` with a
generated configuration scraping it every second. Issues client-credentials
tokens, then asks Prometheus's HTTP API for tessera_tokens_issued_total of
that client until it shows them all. Then runs every query of the Grafana
dashboard through Prometheus (each must parse and run), and checks that
every metric the dashboard and the alert rules name is one Tessera exports.
Exits 0 only when all of that holds.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import failer, free_port, stop_all  # noqa: E402

fail = failer("prometheus test")
BINARY = os.path.join(ROOT, "target", "debug", "tessera")
TOKENS = 7


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def wait_for(url, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    fail(f"{what} did not answer at {url} within {seconds} s")


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        _, body = get(url)
    except urllib.error.HTTPError as error:
        return {"status": "error", "error": error.read().decode()}
    return json.loads(body)


def main():
    work = tempfile.mkdtemp(prefix="tessera-prometheus-")
    port, management, prom_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        TESSERA_DATA_DIR=work,
        TESSERA_DATABASE_URL=f"sqlite://{work}/tessera.db",
        TESSERA_BIND=f"127.0.0.1:{port}",
        TESSERA_MANAGEMENT_BIND=f"127.0.0.1:{management}",
        TESSERA_ISSUER=f"http://127.0.0.1:{port}",
        TESSERA_BOOTSTRAP_ADMIN_PASSWORD="prometheus test admin",
        TESSERA_LOG="warn",
    )
    env.pop("TESSERA_MASTER_KEY", None)
    processes = []

    def cli(*args):
        out = subprocess.run([BINARY, *args, "--json"], env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    try:
        cli("service-account", "create", "--username", "svc-metrics")
        cli("scope", "create", "api:read")
        client = cli("client", "create", "--name", "metrics", "--grant", "client_credentials",
                     "--scope", "api:read", "--service-account", "svc-metrics")
        server = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(work, "tessera.log"), "w"))
        processes.append(server)
        wait_for(f"http://127.0.0.1:{port}/readyz", "Tessera")

        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files:\n  - {os.path.join(ROOT, 'docs', 'ops', 'alerts.yml')}\n"
                "scrape_configs:\n  - job_name: tessera\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{management}']\n"
            )
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))
        processes.append(prometheus)
        prom = f"http://127.0.0.1:{prom_port}"
        wait_for(f"{prom}/-/ready", "Prometheus", 60)

        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        for _ in range(TOKENS):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/oauth2/token", data=b"grant_type=client_credentials",
                headers={"Authorization": f"Basic {basic}",
                         "Content-Type": "application/x-www-form-urlencoded"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status != 200:
                    fail(f"token request answered {response.status}")

        # An introspection and a refused secret, so those series exist too.
        token = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/oauth2/token", data=b"grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"}), timeout=5).read())["access_token"]
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/oauth2/introspect", data=f"token={token}".encode(),
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"}), timeout=5).read()
        issued = TOKENS + 1

        series = f'tessera_tokens_issued_total{{client_id="{client["client_id"]}",grant_type="client_credentials"}}'
        deadline, seen = time.time() + 30, None
        while time.time() < deadline:
            answer = query(prom, series)
            result = answer.get("data", {}).get("result", [])
            seen = float(result[0]["value"][1]) if result else None
            if seen is not None and seen >= issued:
                break
            time.sleep(0.5)
        if seen is None or seen < issued:
            fail(f"Prometheus shows {seen} tokens issued for the client, expected {issued}")
        print(f"Prometheus sees tessera_tokens_issued_total = {seen:.0f} for client {client['client_id']}")
        up = query(prom, 'up{job="tessera"}')["data"]["result"]
        if not up or up[0]["value"][1] != "1":
            fail(f"the scrape target is not up: {up}")

        # The dashboard's queries all run, and name only metrics we export.
        _, exposition = get(f"http://127.0.0.1:{management}/metrics")
        exported = {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}
        exported |= {f"{name}_{suffix}" for name in exported for suffix in ("bucket", "sum", "count")}
        exported.add("up")
        dashboard = json.load(open(os.path.join(ROOT, "docs", "ops", "grafana-dashboard.json")))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        for expr in exprs:
            answer = query(prom, expr.replace("$__rate_interval", "1m"))
            if answer.get("status") != "success":
                fail(f"dashboard query does not run: {expr}: {answer.get('error')}")
        rules = open(os.path.join(ROOT, "docs", "ops", "alerts.yml")).read()
        exprs_text = " ".join(exprs) + " " + " ".join(re.findall(r"expr:\s*\|?\s*(.+?)(?=\n\s+\w+:)", rules, re.S))
        named = set(re.findall(r"\b((?:tessera|process)_[a-z_]+)", exprs_text))
        unknown = sorted(named - exported)
        if unknown:
            fail(f"metrics named by the dashboard or the alerts that Tessera does not export: {unknown}")
        loaded = json.loads(get(f"{prom}/api/v1/rules")[1])["data"]["groups"]
        if not loaded or not loaded[0]["rules"]:
            fail("Prometheus did not load the alert rules")
        print(f"{len(exprs)} dashboard queries run; {len(named)} metric names checked; "
              f"{len(loaded[0]['rules'])} alert rules loaded")
        print("prometheus test passed")
    finally:
        stop_all(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
