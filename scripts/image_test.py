#!/usr/bin/env python3
"""The container image: the driver behind scripts/image-test.

Builds the Dockerfile's runtime stage with Podman — its instructions as
written, on a Debian bookworm base made with debootstrap (Docker Hub is out
of reach here) and with the binary cargo built for the tests in place of
the build stage's — then:

1. the image declares the user `tessera`, a HEALTHCHECK and ports 8080/9464;
2. started with no arguments it serves, as uid 10001, on the embedded
   database; `podman healthcheck run` passes; a client created with the
   CLI inside the container gets a token from outside;
3. the console's Jira test, pointed at an https "Jira" whose certificate a
   test CA signed, is refused by the image as built (certificates are
   really checked) and succeeds in an image derived from it that adds the
   CA the Debian way (update-ca-certificates, which the image's
   ca-certificates package provides) — as a site with its own CA does;
4. `podman stop` (SIGTERM) ends it with exit code 0.
Exits 0 only when all of that holds.
"""

import http.cookiejar
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402
from harness import failer, free_port  # noqa: E402

fail = failer("image test")

BINARY = os.path.join(ROOT, "target", "debug", "tessera")
CACHE = os.path.join(ROOT, "target", "image-test")
BASE = "localhost/tessera-test-base:bookworm"
IMAGE = "localhost/tessera:image-test"
IMAGE_WITH_CA = "localhost/tessera-with-ca:image-test"
ADMIN_PASSWORD = "image test admin password"
# The Dockerfile's lines this test replaces; if they change, so must it.
BASE_LINE = "FROM debian:bookworm-slim"
COPY_LINE = "COPY --from=build /src/target/release/tessera /usr/local/bin/tessera"


# Podman's environment; main() adds its containers.conf.
PODMAN_ENV = dict(os.environ)


def podman(*args, check=True, **kwargs):
    """Podman as this machine allows it: runc with cgroupfs, the host's
    limits (the sandbox may not raise them), host networking."""
    result = subprocess.run(["podman", "--runtime", "runc", *args], env=PODMAN_ENV, capture_output=True,
                            text=True, **kwargs)
    if check and result.returncode != 0:
        fail(f"podman {' '.join(args[:2])}: {result.stderr.strip().splitlines()[-1:]}")
    return result



def base_image():
    """Debian bookworm (minbase), made once and kept in target/image-test."""
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    os.makedirs(CACHE, exist_ok=True)
    tarball = os.path.join(CACHE, "bookworm.tar")
    if not os.path.exists(tarball):
        rootfs = tempfile.mkdtemp(prefix="bookworm-", dir=CACHE)
        print("image test: making a Debian bookworm base with debootstrap (once)", flush=True)
        made = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian"],
                              capture_output=True, text=True)
        if made.returncode != 0:
            fail(f"debootstrap failed: {made.stdout.strip().splitlines()[-1:]}")
        subprocess.run(["tar", "-C", rootfs, "-cf", tarball + ".part", "."], check=True)
        os.rename(tarball + ".part", tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    podman("import", "--change", "CMD [\"bash\"]", tarball, BASE)


def runtime_dockerfile():
    """The Dockerfile's last stage, on our base, copying our binary."""
    lines = open(os.path.join(ROOT, "Dockerfile")).read().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    stage = lines[starts[-1]:]
    if stage[0] != BASE_LINE:
        fail(f"the runtime stage starts {stage[0]!r}, not {BASE_LINE!r}: update this test")
    if stage.count(COPY_LINE) != 1:
        fail(f"the runtime stage no longer has {COPY_LINE!r}: update this test")
    stage[0] = f"FROM {BASE}"
    stage[stage.index(COPY_LINE)] = "COPY tessera /usr/local/bin/tessera"
    return "\n".join(stage) + "\n"


def make_certificates(work):
    """A test CA and a certificate it signed for 127.0.0.1."""
    ca_key, ca, key, csr, cert = (os.path.join(work, n) for n in ("ca.key", "ca.crt", "jira.key", "jira.csr",
                                                                  "jira.crt"))
    openssl = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Tessera image test CA",
            "-keyout", ca_key, "-out", ca)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr)
    extensions = os.path.join(work, "leaf.ext")
    with open(extensions, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
            "-extfile", extensions, "-out", cert)
    return ca, cert, key


class FakeJira(http.server.BaseHTTPRequestHandler):
    """Answers /rest/api/2/myself as Jira does for a valid token."""
    seen = []

    def do_GET(self):
        FakeJira.seen.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"name": "svc-jira", "key": "svc-jira", "displayName": "Jira test"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_jira(cert, key):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeJira)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Container:
    """One run of an image, with the embedded database, on host ports."""

    def __init__(self, image, name, jira_url):
        self.name = name
        self.port, self.management = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        podman("rm", "-f", name, check=False)
        podman("run", "-d", "--name", name, "--network", "host",
               "-e", f"TESSERA_BIND=127.0.0.1:{self.port}",
               "-e", f"TESSERA_MANAGEMENT_BIND=127.0.0.1:{self.management}",
               "-e", f"TESSERA_ISSUER={self.url}",
               "-e", f"TESSERA_BOOTSTRAP_ADMIN_PASSWORD={ADMIN_PASSWORD}",
               "-e", f"TESSERA_JIRA_URL={jira_url}",
               "-e", "TESSERA_LOG_FORMAT=json",
               image)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  bench.NoRedirect())
        deadline = time.time() + 60
        while self.fetch("/readyz")[0] != 200:
            if time.time() > deadline or self.state()["Status"] != "running":
                fail(f"{name} did not become ready: {self.logs()[-3:]}")
            time.sleep(0.3)

    def fetch(self, path, form=None, auth=None):
        """(status, body); status 0 while nothing answers."""
        try:
            status, _, body = bench.fetch(self.opener, self.url + path, form, auth, {"Sec-Fetch-Site": "same-origin"})
        except OSError:
            return 0, ""
        return status, body

    def cli(self, *args):
        out = podman("exec", self.name, "tessera", *args, "--json")
        return json.loads(out.stdout)

    def state(self):
        return json.loads(podman("inspect", self.name).stdout)[0]["State"]

    def logs(self):
        return podman("logs", self.name).stderr.splitlines()

    def jira_test(self, client_id):
        """Signs in as the bootstrap admin and runs the console's Jira test."""
        _, page = self.fetch("/console/login")
        status, _ = self.fetch("/console/login", {**bench.hidden_fields(page), "username": "admin",
                                                  "password": ADMIN_PASSWORD})
        if status != 303:
            fail(f"console sign-in answered {status}")
        _, page = self.fetch("/console/jira")
        status, page = self.fetch("/console/jira/test", {**bench.hidden_fields(page), "as": f"service:{client_id}"})
        if status != 200:
            fail(f"the Jira test answered {status}")
        return page

    def stop(self):
        podman("stop", "-t", "30", self.name)
        code = self.state()["ExitCode"]
        podman("rm", "-f", self.name, check=False)
        return code


def main():
    work = tempfile.mkdtemp(prefix="tessera-image-")
    conf = os.path.join(work, "containers.conf")
    with open(conf, "w") as f:
        # The sandbox refuses to raise limits and has hybrid cgroups: keep
        # the host's limits and let runc use cgroupfs.
        f.write('[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n')
    PODMAN_ENV["CONTAINERS_CONF"] = conf
    containers = []
    try:
        base_image()
        context = os.path.join(work, "context")
        os.makedirs(context)
        shutil.copy(BINARY, os.path.join(context, "tessera"))
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write(runtime_dockerfile())
        # docker format: the OCI format has no HEALTHCHECK.
        podman("build", "--format", "docker", "--network", "host", "--pull=never", "-t", IMAGE, context)

        inspected = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
        config = inspected["Config"]
        if config.get("User") != "tessera":
            fail(f"the image runs as {config.get('User')!r}, not tessera")
        check = (inspected.get("Healthcheck") or config.get("Healthcheck") or {}).get("Test") or []
        if "healthcheck" not in check:
            fail(f"the image's HEALTHCHECK is {check!r}")
        if not {"8080/tcp", "9464/tcp"} <= set(config.get("ExposedPorts") or {}):
            fail(f"the image exposes {sorted(config.get('ExposedPorts') or {})}")

        ca, cert, key = make_certificates(work)
        jira = start_jira(cert, key)
        jira_url = f"https://127.0.0.1:{jira.server_address[1]}"
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write(f"FROM {IMAGE}\nUSER root\nCOPY ca.crt /usr/local/share/ca-certificates/test-ca.crt\n"
                    "RUN update-ca-certificates\nUSER tessera\n")
        shutil.copy(ca, os.path.join(context, "ca.crt"))
        podman("build", "--format", "docker", "--network", "host", "--pull=never", "-t", IMAGE_WITH_CA, context)

        for image, name, trusted in [(IMAGE, "tessera-image-test", False),
                                     (IMAGE_WITH_CA, "tessera-image-test-ca", True)]:
            container = Container(image, name, jira_url)
            containers.append(container)
            pid = container.state()["Pid"]
            uid = open(f"/proc/{pid}/status").read().split("Uid:")[1].split()[0]
            if uid != "10001":
                fail(f"{name}: the server runs as uid {uid}, not 10001")
            if podman("healthcheck", "run", name, check=False).returncode != 0:
                fail(f"{name}: podman healthcheck run failed")
            container.cli("service-account", "create", "--username", "svc-jira")
            container.cli("scope", "create", "api:read")
            client = container.cli("client", "create", "--name", "machine", "--grant", "client_credentials",
                                   "--scope", "api:read", "--service-account", "svc-jira")
            status, body = container.fetch("/oauth2/token", {"grant_type": "client_credentials"},
                                           f"{client['client_id']}:{client['client_secret']}")
            if status != 200 or "access_token" not in body:
                fail(f"{name}: token request answered {status} {body[:200]}")
            FakeJira.seen.clear()
            page = container.jira_test(client["client_id"])
            reached = [p for p, auth in FakeJira.seen if p == "/rest/api/2/myself" and auth.startswith("Bearer ")]
            if trusted and not reached:
                fail(f"{name}: the Jira test did not reach Jira although its CA was added")
            if not trusted and (reached or "certificate" not in page.lower()):
                fail(f"{name}: an https Jira signed by an unknown CA was not refused for its certificate")
            code = container.stop()
            containers.remove(container)
            if code != 0:
                fail(f"{name}: SIGTERM ended the server with exit code {code}")
        jira.shutdown()
        print("image built with Podman: user tessera (uid 10001), HEALTHCHECK passes, a token from outside, "
              "an unknown CA refused and an added CA trusted by the Jira test, exit 0 on SIGTERM")
        print("image test passed")
    finally:
        for container in containers:
            podman("rm", "-f", container.name, check=False)
        for image in (IMAGE_WITH_CA, IMAGE):
            podman("rmi", "-f", image, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
