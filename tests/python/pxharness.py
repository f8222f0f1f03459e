# SPDX-License-Identifier: ISC
"""pxharness: start the real pollexd (and the HTTP test service) for the
Python client's tests, on a private socket and state directory, as
tests/cli-e2e.sh does.  $POLLEXD and $TESTSERVICE name the binaries
(set by make check's test environment)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import pollex

HERE = os.path.dirname(os.path.abspath(__file__))
JOBPROG = os.path.join(HERE, "jobprog.py")

#: Every wait in the tests is bounded by this (seconds).
BOUND = 60


def U():
    """A unique value for refs: pollexd maps the same poller and ref to
    the same task."""
    return uuid.uuid4().hex


def _env(name):
    v = os.environ.get(name)
    if not v:
        raise unittest.SkipTest("$%s is not set (run through make check)"
                                % name)
    return v


class TestService:
    """tests/testservice on a free port; the port is read from its stdout,
    which it prints once it listens."""

    def __init__(self):
        self.proc = subprocess.Popen([_env("TESTSERVICE"), "-a", "127.0.0.1"],
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line.strip():
            self.proc.kill()
            raise RuntimeError("the test service did not start")
        self.port = int(line)
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait(BOUND)
        self.proc.stdout.close()


def config(service_url=None, job_interval="100ms"):
    pollers = {
        "job": {
            "kind": "exec",
            "interval": job_interval,
            "max_batch": 1000,
            "fail_after": 3,
            "start": [sys.executable, JOBPROG],
            "poll": [sys.executable, JOBPROG],
            "cancel": [sys.executable, JOBPROG],
            "timeout": "20s",
        },
    }
    if service_url is not None:
        # PollExecutor's example (examples/pollexd.conf's "publish").
        pollers["publish"] = {
            "kind": "http-batch",
            "url": service_url,
            "interval": "200ms",
            "max_batch": 1000,
            "start": {"method": "POST",
                      "url": "/object/{{args/object}}/publish",
                      "body": "{{args}}"},
            "start_ref": {"task_id": "/task_id"},
            "poll": {"method": "POST", "url": "/tasks/search",
                     "body": {"task_id": "{{refs/task_id}}"}},
            "item_id": "/id",
            "ref_id": "/task_id",
            "outcome": {
                "rules": [
                    {"path": "/state", "equals": "done",
                     "state": "succeeded"},
                    {"path": "/state", "in": ["error", "cancelled"],
                     "state": "failed"},
                ],
                "result": "/result",
                "error_message": "/message",
                "progress": "/progress",
            },
            "cancel": {"method": "DELETE", "url": "/tasks/{{ref/task_id}}"},
        }
    return {"retention": "1h", "pollers": pollers}


class Daemon:
    """pollexd on a private socket and state directory."""

    def __init__(self, conf, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="pollex-py.")
        self.socket = os.path.join(self.dir, "pollex.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "pollexd.conf")
        self.logpath = os.path.join(self.dir, "log")
        with open(self.conf, "w") as f:
            json.dump(conf, f)
        self.proc = None

    def start(self):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [_env("POLLEXD"), "-c", self.conf, "-S", self.socket,
             "--state-dir", self.state], stdout=log, stderr=log)
        log.close()
        # Ready when it answers (bounded, as cli-e2e.sh does).
        end = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("pollexd exited at start:\n" + self.log())
            try:
                with pollex.Client(self.socket, timeout=1) as c:
                    c.stats()
                return self
            except pollex.ConnectionError:
                if time.monotonic() > end:
                    raise RuntimeError("pollexd did not answer within 10s")
                time.sleep(0.05)

    def kill(self):
        """SIGKILL: a crash."""
        self.proc.kill()
        self.proc.wait(BOUND)
        self.proc = None

    def stop(self):
        """SIGTERM: a clean stop, which must exit 0."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(BOUND)
        self.proc = None
        if rc != 0:
            raise RuntimeError("pollexd exited %d after SIGTERM:\n%s"
                               % (rc, self.log()))

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(BOUND)
        shutil.rmtree(self.dir, ignore_errors=True)


class DaemonTestCase(unittest.TestCase):
    """One pollexd (and test service) per test class."""

    with_service = True

    @classmethod
    def setUpClass(cls):
        cls.service = TestService() if cls.with_service else None
        cls.daemon = Daemon(config(cls.service and cls.service.url))
        try:
            cls.daemon.start()
        except Exception:
            cls.daemon.cleanup()
            if cls.service:
                cls.service.stop()
            raise
        cls.socket = cls.daemon.socket

    def client(self):
        """A Client of the daemon, closed after the test."""
        c = pollex.Client(self.socket, timeout=BOUND)
        self.addCleanup(c.close)
        return c

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()
            if cls.service:
                cls.service.stop()
