# SPDX-License-Identifier: ISC
"""pollex.aio against the real pollexd: submit, awaitable handles, wait,
watch, failures, deadlines, cancel, and many handles on one stream."""

import asyncio
import unittest

import pollex
import pollex.aio
from pxharness import U, BOUND, DaemonTestCase


class Aio(DaemonTestCase):

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, BOUND))

    def test_submit_and_await(self):
        async def main():
            async with pollex.aio.Client(self.socket, timeout=BOUND) as c:
                h = await c.submit("job", args={"seconds": 0.1, "value": 3})
                self.assertIsInstance(h, pollex.aio.TaskHandle)
                self.assertTrue(h.created)
                self.assertEqual(await h, {"value": 3, "job": h.id})
                t = await h.wait()
                self.assertEqual(t.state, "succeeded")
                self.assertEqual((await c.get(h.id)).result["value"], 3)
                # A handle of an existing task, by id.
                self.assertEqual(await c.handle(h.id), {"value": 3,
                                                        "job": h.id})
        self.run_async(main())

    def test_publish_example(self):
        async def main():
            async with pollex.aio.Client(self.socket, timeout=BOUND) as c:
                hs = await c.submit_many(
                    [{"poller": "publish",
                      "args": {"object": "a-%d" % i, "duration_ms": 100}}
                     for i in range(200)])
                res = await asyncio.gather(*hs)
                self.assertEqual([r["object"] for r in res],
                                 ["a-%d" % i for i in range(200)])
        self.run_async(main())

    def test_failure_expiry_cancel(self):
        async def main():
            async with pollex.aio.Client(self.socket, timeout=BOUND) as c:
                bad = await c.submit("job", args={"seconds": 0, "fail": True})
                with self.assertRaises(pollex.TaskFailed) as cm:
                    await bad
                self.assertEqual(cm.exception.code, "job_failed")
                late = await c.submit("job", args={"seconds": 30},
                                      timeout=0.3)
                with self.assertRaises(pollex.TaskExpired):
                    await late
                long = await c.submit("job", ref={"u": U(), "seconds": 30})
                with self.assertRaises(asyncio.TimeoutError):
                    await long.wait(timeout=0.1)
                r = await long.cancel()
                self.assertTrue(r.cancelled)
                with self.assertRaises(asyncio.CancelledError):
                    await long
                veto = await c.submit("job", ref={"u": U(), "seconds": 0.5,
                                                  "veto": True})
                r = await veto.cancel()
                self.assertFalse(r.cancelled)
                self.assertIn("refuses", r.reason)
                self.assertEqual((await veto)["job"], veto.id)
                with self.assertRaises(pollex.PollerNotFound):
                    await c.submit("nosuch", ref={})
                with self.assertRaises(pollex.TaskNotFound):
                    await c.handle("0123456789abcdef0123")
        self.run_async(main())

    def test_wait_and_watch(self):
        async def main():
            async with pollex.aio.Client(self.socket, timeout=BOUND) as c:
                events = c.watch(poller="job", labels={"aio": "w"})
                first = await events.__anext__()
                self.assertEqual(first.event, "ready")
                h = await c.submit("job", ref={"u": U(), "seconds": 0.1},
                                   labels={"aio": "w"})
                slow = await c.submit("job", ref={"u": U(), "seconds": 30})
                r = await c.wait([h.id, slow.id],
                                 return_when="first_completed")
                self.assertEqual([t.id for t in r.done], [h.id])
                self.assertEqual(r.not_done, [slow.id])
                got = []
                async for ev in events:
                    got.append(ev)
                    if ev.task is not None and ev.task.done:
                        break
                await events.aclose()
                self.assertEqual(got[0].event, "created")
                self.assertEqual(got[-1].task.state, "succeeded")
                self.assertTrue(all(e.id == h.id for e in got))
                streamed = []
                async for t in c.wait_iter([h.id, slow.id], timeout=0.2):
                    streamed.append(t.id)
                self.assertEqual(streamed, [h.id])
                await slow.cancel()
                self.assertEqual((await c.stats()).version,
                                 pollex.__version__)
                self.assertIn("job", [p.name for p in await c.pollers()])
                self.assertEqual((await c.get_info()).product, "pollexd")
                self.assertIn("method Wait(",
                              await c.get_interface_description())
                page = await c.list(labels={"aio": "w"})
                self.assertEqual([t.id for t in page.tasks], [h.id])
        self.run_async(main())

    def test_many_handles_one_stream(self):
        async def main():
            async with pollex.aio.Client(self.socket, timeout=BOUND) as c:
                hs = await c.submit_many([{"poller": "job",
                                           "ref": {"u": U(), "seconds": 0.2,
                                                   "value": i}}
                                          for i in range(500)])
                res = await asyncio.gather(*hs)
                self.assertEqual([r["value"] for r in res], list(range(500)))
                # One streamed Wait served all 500.
                self.assertEqual(c.wait_connections, 1)
        self.run_async(main())


if __name__ == "__main__":
    unittest.main()
