"""What the scripts/*_test.py drivers share: free loopback ports, one-line
failures, and stopping the processes they started."""

import signal
import socket
import subprocess
import sys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failer(name):
    """A function that prints `<name> FAILED: <message>` and exits 1."""
    def fail(message):
        print(f"{name} FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    return fail


def stop_all(processes):
    """SIGTERM, newest first; SIGKILL for one that does not stop in 15 s."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
