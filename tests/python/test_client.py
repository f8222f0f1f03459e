# SPDX-License-Identifier: ISC
"""pollex.Client against the real pollexd: every method, typed replies,
one exception class per varlink error, the socket lookup of libpollex."""

import os
import stat
import tempfile
import unittest
from unittest import mock

import pollex
from pollex import _wire
from pxharness import U, BOUND, DaemonTestCase


class SocketLookup(unittest.TestCase):
    """The order of common/proto.c's px_socket_for_client()."""

    def test_env_wins(self):
        with mock.patch.dict(os.environ, {"POLLEX_SOCKET": "/x/y.sock",
                                          "XDG_RUNTIME_DIR": "/nonexistent"}):
            self.assertEqual(pollex.default_socket(), "/x/y.sock")
            self.assertEqual(pollex.Client().socket, "/x/y.sock")
            self.assertEqual(pollex.Client("/a.sock").socket, "/a.sock")

    def test_user_socket_when_it_exists(self):
        import socket
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "pollex"))
            path = os.path.join(d, "pollex", "pollex.sock")
            env = {"POLLEX_SOCKET": "", "XDG_RUNTIME_DIR": d}
            with mock.patch.dict(os.environ, env):
                # No socket there yet: the system socket.
                self.assertEqual(pollex.default_socket(),
                                 "/run/pollex/pollex.sock")
                # A regular file is not a socket.
                open(path, "w").close()
                self.assertEqual(pollex.default_socket(),
                                 "/run/pollex/pollex.sock")
                os.unlink(path)
                s = socket.socket(socket.AF_UNIX)
                s.bind(path)
                try:
                    self.assertTrue(stat.S_ISSOCK(os.stat(path).st_mode))
                    self.assertEqual(pollex.default_socket(), path)
                finally:
                    s.close()

    def test_tmp_without_xdg(self):
        env = dict(os.environ)
        env.pop("POLLEX_SOCKET", None)
        env["XDG_RUNTIME_DIR"] = "relative/not/used"
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(_wire.user_socket(),
                             "/tmp/pollex-%d/pollex.sock" % os.geteuid())

    def test_empty_path_refused(self):
        with self.assertRaises(ValueError):
            pollex.Client("")

    def test_no_daemon_is_a_connection_error(self):
        with tempfile.TemporaryDirectory() as d:
            c = pollex.Client(os.path.join(d, "none.sock"))
            with self.assertRaises(pollex.ConnectionError) as cm:
                c.stats()
            self.assertIsInstance(cm.exception, ConnectionError)
            self.assertNotIsInstance(cm.exception, pollex.TaskFailed)
            self.assertIn("none.sock", str(cm.exception))


class Methods(DaemonTestCase):
    with_service = False

    def setUp(self):
        self.c = pollex.Client(self.socket, timeout=BOUND)

    def tearDown(self):
        self.c.close()

    def test_submit_get_wait(self):
        tid = self.c.submit("job", args={"seconds": 0.1, "value": [1, 2]},
                            labels={"t": "sgw"})
        t = self.c.get(tid)
        self.assertIsInstance(t, pollex.Task)
        self.assertEqual(t.id, tid)
        self.assertEqual(t.poller, "job")
        self.assertIn(t.state, ("starting", "pending"))
        self.assertEqual(t.labels, {"t": "sgw"})
        self.assertEqual(t.owner, os.geteuid())
        r = self.c.wait([tid], timeout=BOUND)
        self.assertIsInstance(r, pollex.WaitResult)
        self.assertFalse(r.timed_out)
        self.assertEqual(r.not_done, [])
        self.assertEqual([x.id for x in r.done], [tid])
        done = r.done[0]
        self.assertEqual(done.state, "succeeded")
        self.assertEqual(done.result, {"value": [1, 2], "job": tid})
        self.assertTrue(done.done)
        self.assertIsNotNone(done.finished)
        self.assertEqual(done.outcome(), {"value": [1, 2], "job": tid})

    def test_wait_timeout_is_not_an_error(self):
        tid = self.c.submit("job", args={"seconds": 30})
        r = self.c.wait(tid, timeout=0.2)
        self.assertTrue(r.timed_out)
        self.assertEqual(r.done, [])
        self.assertEqual(r.not_done, [tid])
        self.assertTrue(self.c.cancel(tid))

    def test_wait_outlasts_the_io_timeout(self):
        # The client's timeout bounds replies, not a Wait's own time.
        with pollex.Client(self.socket, timeout=0.3) as c:
            tid = c.submit("job", ref={"u": U(), "seconds": 1})
            slow = c.submit("job", ref={"u": U(), "seconds": 30})
            r = c.wait([slow], timeout=0.8)
            self.assertTrue(r.timed_out)
            r = c.wait([tid])
            self.assertEqual(r.done[0].state, "succeeded")
            self.assertTrue(c.cancel(slow))

    def test_wait_first_completed_and_stream(self):
        slow = self.c.submit("job", args={"seconds": 30})
        fast = self.c.submit("job", args={"seconds": 0.1})
        r = self.c.wait([slow, fast], return_when="FIRST_COMPLETED",
                        timeout=BOUND)
        self.assertEqual([t.id for t in r.done], [fast])
        self.assertEqual(r.not_done, [slow])
        with self.assertRaises(ValueError):
            self.c.wait([slow], return_when="whenever")
        # Streamed: the finished one first, then the cancelled one.
        got = []
        it = self.c.wait_iter([slow, fast], timeout=BOUND)
        got.append(next(it))
        self.assertEqual(got[0].id, fast)
        self.assertTrue(self.c.cancel(slow).cancelled)
        got.extend(it)
        self.assertEqual([t.id for t in got], [fast, slow])
        self.assertEqual(got[1].state, "cancelled")

    def test_submit_many_and_idempotency(self):
        r = self.c.submit_many([
            {"poller": "job", "args": {"seconds": 0}, "idempotency_key": "k1"},
            {"poller": "job", "ref": {"u": U(), "seconds": 0, "value": "byref"}},
        ])
        self.assertEqual(r.created, [True, True])
        again = self.c.submit("job", args={"seconds": 0},
                              idempotency_key="k1")
        self.assertEqual(again, r.ids[0])
        with self.assertRaises(pollex.IdempotencyConflict) as cm:
            self.c.submit("job", args={"seconds": 5}, idempotency_key="k1")
        self.assertEqual(cm.exception.idempotency_key, "k1")
        self.assertEqual(cm.exception.id, r.ids[0])
        self.assertIsInstance(cm.exception, pollex.VarlinkError)
        self.assertIsInstance(cm.exception, pollex.Error)
        t = self.c.wait(r.ids, timeout=BOUND)
        self.assertEqual({x.state for x in t.done}, {"succeeded"})

    def test_errors(self):
        with self.assertRaises(pollex.PollerNotFound) as cm:
            self.c.submit("nosuch", ref={"a": 1})
        self.assertEqual(cm.exception.poller, "nosuch")
        self.assertEqual(cm.exception.name, "io.pollex.PollerNotFound")
        with self.assertRaises(pollex.TaskNotFound) as cm:
            self.c.get("0123456789abcdef0123")
        self.assertEqual(cm.exception.id, "0123456789abcdef0123")
        with self.assertRaises(pollex.InvalidParameter) as cm:
            self.c.submit_many([{"poller": "job", "ref": {}, "timeout": 1,
                                 "deadline": 2}])
        self.assertTrue(cm.exception.parameter.startswith("tasks[0]"))
        with self.assertRaises(pollex.MethodNotFound):
            self.c.call("io.pollex.Nope")
        with self.assertRaises(pollex.InterfaceNotFound):
            self.c.call("org.example.Nope")
        with self.assertRaises(pollex.ExpectedMore):
            self.c.call("Watch", {})
        with self.assertRaises(ValueError):
            self.c.submit("job", ref={"x": float("nan")})
        # The connection is still good after errors.
        self.assertEqual(self.c.stats().version, pollex.__version__)

    def test_every_idl_error_has_a_class(self):
        with open(os.path.join(os.environ.get("srcdir", "."),
                               "common", "io.pollex.varlink")) as f:
            idl = f.read()
        names = [l.split()[1] for l in idl.splitlines()
                 if l.startswith("error ")]
        self.assertGreaterEqual(len(names), 9)
        for n in names:
            cls = getattr(pollex, n)
            self.assertTrue(issubclass(cls, pollex.VarlinkError), n)
            e = pollex.errors.error_from_reply("io.pollex." + n, {"x": 1})
            self.assertIs(type(e), cls)
        e = pollex.errors.error_from_reply("com.example.Odd", {})
        self.assertIs(type(e), pollex.VarlinkError)
        self.assertEqual(e.name, "com.example.Odd")

    def test_cancel(self):
        tid = self.c.submit("job", args={"seconds": 30})
        r = self.c.cancel(tid)
        self.assertIsInstance(r, pollex.CancelResult)
        self.assertTrue(r.cancelled)
        self.assertEqual(r.state, "cancelled")
        r = self.c.cancel(tid)
        self.assertFalse(r.cancelled)
        self.assertEqual(self.c.get(tid).state, "cancelled")

    def test_list_and_iter(self):
        ids = self.c.submit_many([{"poller": "job", "ref": {"u": U(), "n": i},
                                   "labels": {"list": "yes"}}
                                  for i in range(5)]).ids
        p = self.c.list(labels={"list": "yes"}, limit=2)
        self.assertIsInstance(p, pollex.Page)
        self.assertEqual([t.id for t in p.tasks], ids[:2])
        self.assertEqual(p.next, ids[1])
        self.assertEqual([t.id for t in self.c.iter_tasks(
            labels={"list": "yes"}, page_size=2)], ids)
        self.c.wait(ids, timeout=BOUND)

    def test_watch(self):
        w = self.c.watch(poller="job", labels={"w": "1"})
        self.assertEqual(next(w).event, "ready")
        tid = self.c.submit("job", ref={"u": U(), "seconds": 0}, labels={"w": "1"})
        events = []
        for ev in w:
            self.assertIsInstance(ev, pollex.Event)
            self.assertEqual(ev.id, tid)
            events.append(ev)
            if ev.task is not None and ev.task.done:
                break
        w.close()
        self.assertEqual(events[0].event, "created")
        self.assertEqual(events[-1].event, "updated")
        self.assertEqual(events[-1].task.state, "succeeded")

    def test_pollers_stats_info(self):
        ps = {p.name: p for p in self.c.pollers()}
        self.assertEqual(ps["job"].kind, "exec")
        self.assertTrue(ps["job"].has_start and ps["job"].has_cancel)
        self.assertIsInstance(ps["job"], pollex.Poller)
        s = self.c.stats()
        self.assertIsInstance(s, pollex.Stats)
        self.assertIsInstance(s.tasks, pollex.TaskCounts)
        self.assertGreaterEqual(s.calls, 1)
        info = self.c.get_info()
        self.assertEqual(info.product, "pollexd")
        self.assertIn("io.pollex", info.interfaces)
        desc = self.c.get_interface_description()
        self.assertIn("interface io.pollex", desc)
        self.assertIn("method Submit(", desc)
        with self.assertRaises(pollex.InterfaceNotFound):
            self.c.get_interface_description("org.example.x")


if __name__ == "__main__":
    unittest.main()
