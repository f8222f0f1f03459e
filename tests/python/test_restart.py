# SPDX-License-Identifier: ISC
"""pollexd restarts while futures and asyncio handles wait: they resume on
the same state directory and resolve; with nothing to reconnect to they
give up after reconnect_timeout with pollex.ConnectionError."""

import asyncio
import concurrent.futures as cf
import time
import unittest

import pollex
import pollex.aio
from pxharness import BOUND, Daemon, config


class Restart(unittest.TestCase):

    def setUp(self):
        self.daemon = Daemon(config())
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()
        self.socket = self.daemon.socket

    def await_pending(self, ids):
        with pollex.Client(self.socket, timeout=BOUND) as c:
            deadline = time.monotonic() + BOUND
            while any(c.get(i).state == "starting" for i in ids):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)

    async def stream_open(self, c):
        # Bounded: until the handles' Wait stream is connected.
        deadline = time.monotonic() + BOUND
        while c.wait_connections < 1:
            self.assertLess(time.monotonic(), deadline)
            await asyncio.sleep(0.01)

    def test_kill_and_restart(self):
        with pollex.Executor("job", self.socket) as ex:
            fs = [ex.submit({"seconds": 3, "value": i}) for i in range(20)]
            self.await_pending([f.task_id for f in fs])
            n = ex.wait_connections
            self.daemon.kill()
            time.sleep(0.3)     # the daemon is down for a while: by design
            self.assertFalse(any(f.done() for f in fs))
            self.daemon.start()
            vals = sorted(f.result(BOUND)["value"]
                          for f in cf.as_completed(fs, timeout=BOUND))
            self.assertEqual(vals, list(range(20)))
            self.assertGreater(ex.wait_connections, n)
        self.daemon.stop()

    def test_clean_stop_and_restart(self):
        # SIGTERM: the Wait is ended with io.pollex.ShuttingDown.
        with pollex.Executor("job", self.socket) as ex:
            f = ex.submit({"seconds": 3, "value": "x"})
            self.await_pending([f.task_id])
            self.daemon.stop()
            self.daemon.start()
            self.assertEqual(f.result(BOUND)["value"], "x")
        self.daemon.stop()

    def test_aio_handles_resume(self):
        async def main():
            async with pollex.aio.Client(self.socket) as c:
                hs = [await c.submit("job", args={"seconds": 3, "value": i})
                      for i in range(5)]
                self.await_pending([h.id for h in hs])
                waits = asyncio.ensure_future(asyncio.gather(*hs))
                await self.stream_open(c)
                self.daemon.kill()
                await asyncio.sleep(0.3)
                self.assertFalse(waits.done())
                self.daemon.start()
                res = await asyncio.wait_for(waits, BOUND)
                self.assertEqual([r["value"] for r in res], list(range(5)))
        asyncio.run(main())
        self.daemon.stop()

    def test_give_up_after_reconnect_timeout(self):
        ex = pollex.Executor("job", self.socket, reconnect_timeout=1.0)
        f = ex.submit({"seconds": 30})
        self.await_pending([f.task_id])
        t0 = time.monotonic()
        self.daemon.kill()
        e = f.exception(BOUND)
        self.assertIsInstance(e, pollex.ConnectionError)
        self.assertIn("gave up", str(e))
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.assertLess(time.monotonic() - t0, 10)
        # A submit while nothing listens gives up too.
        t0 = time.monotonic()
        with self.assertRaises(pollex.ConnectionError):
            ex.submit({"seconds": 0})
        self.assertLess(time.monotonic() - t0, 10)
        ex.shutdown()

    def test_aio_give_up(self):
        async def main():
            async with pollex.aio.Client(self.socket,
                                         reconnect_timeout=1.0) as c:
                h = await c.submit("job", args={"seconds": 30})
                self.await_pending([h.id])
                w = asyncio.ensure_future(h.wait())
                await self.stream_open(c)
                self.daemon.kill()
                with self.assertRaises(pollex.ConnectionError):
                    await asyncio.wait_for(w, BOUND)
        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
