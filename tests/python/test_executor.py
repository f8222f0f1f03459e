# SPDX-License-Identifier: ISC
"""pollex.Executor against the real pollexd: PollExecutor's own example
(publish + search through the HTTP test service) with 1,000 futures,
the concurrent.futures API, cancel accepted and refused, deadlines,
attach, map and shutdown."""

import concurrent.futures as cf
import subprocess
import sys
import threading
import time
import unittest

import pollex
from pxharness import U, BOUND, DaemonTestCase


class PublishExample(DaemonTestCase):
    """more-executors' PollExecutor example, restated with pollex: publish
    objects, one search per tick resolves every outstanding publish."""

    def test_thousand_futures_as_completed(self):
        before = set(threading.enumerate())
        with pollex.Executor("publish", self.socket) as ex:
            fs = {}
            for i in range(1000):
                f = ex.submit({"object": "obj-%d" % i,
                               "duration_ms": 50 + (i * 7) % 400})
                self.assertIsInstance(f, cf.Future)
                fs[f] = "obj-%d" % i
            # One background thread for all of them.
            th = ex._thread
            self.assertEqual(set(threading.enumerate()) - before, {th})
            seen = set()
            for f in cf.as_completed(fs, timeout=BOUND):
                r = f.result()
                self.assertEqual(r["object"], fs[f])
                self.assertIsInstance(r["id"], int)
                self.assertEqual(f.task.state, "succeeded")
                seen.add(f.task_id)
            self.assertEqual(len(seen), 1000)
            # The Wait stream was replaced as futures came, not opened
            # per future.
            self.assertLess(ex.wait_connections, 1000)
        self.assertFalse(th.is_alive())
        self.assertIsNone(ex._thread)

    def test_remote_failure(self):
        with pollex.Executor("publish", self.socket) as ex:
            f = ex.submit({"object": "bad", "outcome": "error",
                           "message": "boom", "duration_ms": 0})
            e = f.exception(BOUND)
            self.assertIsInstance(e, pollex.TaskFailed)
            self.assertNotIsInstance(e, pollex.TaskExpired)
            self.assertIn("boom", e.message)
            self.assertEqual(e.task.id, f.task_id)
            with self.assertRaises(pollex.TaskFailed):
                f.result(0)


class Futures(DaemonTestCase):
    with_service = False

    def setUp(self):
        self.ex = pollex.Executor("job", self.socket)

    def tearDown(self):
        self.ex.shutdown(wait=False, cancel_futures=True)

    def test_result_and_callbacks(self):
        f = self.ex.submit({"seconds": 0.3, "value": "v"})
        with self.assertRaises(cf.TimeoutError):
            f.result(timeout=0.01)
        got = threading.Event()
        seen = []
        f.add_done_callback(lambda fut: (seen.append(fut), got.set()))
        self.assertTrue(got.wait(BOUND))
        self.assertIs(seen[0], f)
        self.assertEqual(f.result(0), {"value": "v", "job": f.task_id})
        self.assertFalse(f.cancel())    # finished: False, as cf does
        self.assertFalse(f.cancelled())

    def test_wait_first_completed(self):
        slow = self.ex.submit({"seconds": 30})
        fast = self.ex.submit({"seconds": 0.1})
        done, not_done = cf.wait([slow, fast], timeout=BOUND,
                                 return_when=cf.FIRST_COMPLETED)
        self.assertEqual(done, {fast})
        self.assertEqual(not_done, {slow})
        done, not_done = cf.wait([slow, fast], timeout=0.2)
        self.assertEqual(not_done, {slow})

    def test_failed_task(self):
        f = self.ex.submit({"seconds": 0, "fail": True, "value": 7})
        with self.assertRaises(pollex.TaskFailed) as cm:
            f.result(BOUND)
        e = cm.exception
        self.assertEqual(e.code, "job_failed")
        self.assertEqual(e.message, "job %s failed" % f.task_id)
        self.assertEqual(e.details, {"value": 7})
        done, _ = cf.wait([f, self.ex.submit({"seconds": 30})],
                          timeout=BOUND, return_when=cf.FIRST_EXCEPTION)
        self.assertEqual(done, {f})

    def test_task_timeout_expires(self):
        t0 = time.monotonic()
        f = self.ex.submit({"seconds": 30}, timeout=0.5)
        with self.assertRaises(pollex.TaskExpired) as cm:
            f.result(BOUND)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(cm.exception.code, "expired")
        self.assertIsInstance(cm.exception, pollex.TaskFailed)
        self.assertEqual(f.task.state, "expired")

    def test_cancel_accepted(self):
        f = self.ex.submit({"seconds": 30})
        g = self.ex.attach(f.task_id)   # a second future of the task
        ended = threading.Event()
        f.add_done_callback(lambda _: ended.set())
        self.assertTrue(f.cancel())
        self.assertTrue(f.cancelled())
        self.assertTrue(ended.is_set())
        with self.assertRaises(cf.CancelledError):
            f.result(0)
        # as_completed and wait see it at once.
        self.assertEqual(list(cf.as_completed([f], timeout=1)), [f])
        self.assertTrue(g.cancelled())
        self.assertTrue(f.cancel())     # already cancelled: True
        self.assertEqual(self.client().get(f.task_id).state,
                         "cancelled")

    def test_cancel_refused(self):
        f = self.ex.submit({"seconds": 1.5, "veto": True, "value": 1})
        c = self.client()
        # Cancel while starting would abort the start, not ask the program.
        deadline = time.monotonic() + BOUND
        while c.get(f.task_id).state == "starting":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.assertFalse(f.cancel())
        self.assertIn("refuses", f.cancel_reason)
        self.assertFalse(f.cancelled())
        self.assertFalse(f.done())
        self.assertEqual(f.result(BOUND), {"value": 1, "job": f.task_id})

    def test_cancelled_elsewhere(self):
        f = self.ex.submit({"seconds": 30})
        self.assertTrue(self.client().cancel(f.task_id))
        with self.assertRaises(cf.CancelledError):
            f.result(BOUND)
        self.assertTrue(f.cancelled())

    def test_attach_from_another_process(self):
        code = ("import pollex, sys; c = pollex.Client(sys.argv[1]); "
                "print(c.submit('job', args={'seconds': 0.3, 'value': 'x'}))")
        out = subprocess.run([sys.executable, "-c", code, self.socket],
                             check=True, capture_output=True, text=True,
                             timeout=BOUND)
        tid = out.stdout.strip()
        f = self.ex.attach(tid)
        self.assertEqual(f.result(BOUND), {"value": "x", "job": tid})
        # A finished task: a finished future at once.
        g = self.ex.attach(tid)
        self.assertTrue(g.done())
        self.assertEqual(g.result(0), {"value": "x", "job": tid})
        with self.assertRaises(pollex.TaskNotFound):
            self.ex.attach("0123456789abcdef0123")

    def test_submit_errors_raise(self):
        with self.assertRaises(pollex.PollerNotFound):
            with pollex.Executor("nosuch", self.socket) as ex:
                ex.submit(ref={"a": 1})
        with self.assertRaises(pollex.InvalidParameter):
            self.ex.submit({"seconds": 1}, labels={"n": 1})

    def test_idempotency_key(self):
        f = self.ex.submit({"seconds": 0.1}, idempotency_key="exec-k")
        g = self.ex.submit({"seconds": 0.1}, idempotency_key="exec-k")
        self.assertEqual(f.task_id, g.task_id)
        self.assertEqual(f.result(BOUND), g.result(BOUND))

    def test_map(self):
        args = [{"seconds": (5 - i) * 0.05, "value": i} for i in range(6)]
        self.assertEqual([r["value"] for r in
                          self.ex.map(args, timeout=BOUND)], list(range(6)))
        it = self.ex.map([{"seconds": 0, "value": 0, "fail": True}],
                         timeout=BOUND)
        with self.assertRaises(pollex.TaskFailed):
            next(it)
        with self.assertRaises(cf.TimeoutError):
            list(self.ex.map([{"seconds": 30}], timeout=0.3))

    def test_one_thread_one_stream(self):
        before = set(threading.enumerate())
        fs = self.ex.submit_many([{"ref": {"u": U(), "seconds": 0.2, "value": i}}
                                  for i in range(300)])
        self.assertEqual(set(threading.enumerate()) - before,
                         {self.ex._thread})
        self.assertEqual([f.result(BOUND)["value"] for f in fs],
                         list(range(300)))
        # One Submit, so one Wait call served all 300.
        self.assertEqual(self.ex.wait_connections, 1)

    def test_shutdown(self):
        ex = pollex.Executor("job", self.socket)
        f = ex.submit({"seconds": 0.3, "value": 1})
        ex.shutdown(wait=True)
        self.assertTrue(f.done())
        self.assertEqual(f.result(0)["value"], 1)
        with self.assertRaises(RuntimeError):
            ex.submit({"seconds": 0})

        ex = pollex.Executor("job", self.socket)
        fs = [ex.submit({"seconds": 30}) for _ in range(3)]
        veto = ex.submit({"seconds": 0.5, "veto": True})
        c = self.client()
        deadline = time.monotonic() + BOUND
        while c.get(veto.task_id).state == "starting":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        ex.shutdown(wait=True, cancel_futures=True)
        self.assertTrue(all(f.cancelled() for f in fs))
        # The refusal stood: that future waited for its result.
        self.assertEqual(veto.result(0)["job"], veto.task_id)
        for f in fs:
            self.assertEqual(c.get(f.task_id).state, "cancelled")

    def test_context_manager_waits(self):
        with pollex.Executor("job", self.socket) as ex:
            f = ex.submit({"seconds": 0.2})
        self.assertTrue(f.done())


if __name__ == "__main__":
    unittest.main()
