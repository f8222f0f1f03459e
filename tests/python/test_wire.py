# SPDX-License-Identifier: ISC
"""The fast paths of the Wait stream: _wire.Decoder decodes a chunk of
replies at once and hands finished tasks over as dicts (types.task_record)
that become Tasks when asked for.  Each is checked against the slow path
(decode_message and Task.from_json one message at a time) on replies split
at every byte, several in one chunk, non-ASCII text raw and escaped (a
surrogate pair too), error replies and bad messages mixed in; then the
executor and the asyncio client against a fake server that sends a burst
of such replies at once."""

import asyncio
import json
import random
import threading
import unittest

import pollex
import pollex.aio
from pollex import _wire
from pollex.types import Task, as_task, task_record
from pxharness import BOUND

from test_badserver import FakeServer


def task(tid, state="succeeded", **kw):
    t = {"id": tid, "poller": "p", "state": state, "owner": 0,
         "created": 1.5, "updated": 2.25, "polls": 1, "poll_failures": 0}
    t.update(kw)
    return t


def wait_reply(t, continues=True):
    return json.dumps({"parameters": {"done": [t], "timed_out": False},
                       "continues": continues}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


# Messages as pollexd might send them, and some it would not: each is
# decoded alone by decode_message() for the expected result.
GOOD = [
    wait_reply(task("t1", result={"name": "caf\u00e9", "emoji": "\U0001f600"})),
    # The same text escaped: \u00e9 and a surrogate pair.
    b'{"parameters":{"done":[{"id":"t2","poller":"p","state":"succeeded",'
    b'"owner":0,"created":1.0,"updated":2.0,"polls":1,"poll_failures":0,'
    b'"result":{"name":"caf\\u00e9","emoji":"\\ud83d\\ude00",'
    b'"esc":"a\\"b\\\\c\\n\\u0000"}}],"timed_out":false},"continues":true}',
    wait_reply(task("t3", "failed", error={"code": "E", "message":
                                           "\u00fcbel", "details": [1]})),
    wait_reply(task("t4", "pending")),
    wait_reply(task("t5", new_member={"x": 1})),
    b'{"error":"io.pollex.TaskNotFound","parameters":{"id":"t6"}}',
    b'{"error":"com.example.Odd"}',
    # What json.loads accepts and the scanner alone would not.
    b' {"parameters":{"done":[],"timed_out":true}} ',
    b'{"parameters":{"done":[],"timed_out":false},"continues":false}',
    wait_reply(task("t7"), continues=False),
]
BAD = [
    b"",
    b"hello",
    b"[1,2]",
    b'{"method":"x"}',
    b'{"parameters":5}',
    b'{"error":5}',
    b'{"parameters":{}} x',
    b'{"parameters":"\xff"}',
    b'{"parameters":{"s":"caf\xc3"}}',
    b'\xef\xbb\xbf{"parameters":{}}',
]


class SlowDecoder:
    """What _wire.Decoder did before its fast path: split the complete
    messages, decode_message() each."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        end = self.buf.rfind(b"\0")
        if end < 0:
            return []
        raws = self.buf[:end].split(b"\0")
        self.buf = self.buf[end + 1:]
        return [_wire.decode_message(raw) for raw in raws]


def norm(msgs):
    """Decoded messages with their errors as (type, message) (exceptions
    are not equal by value)."""
    return [(p, more, None if err is None else (type(err), str(err)))
            for p, more, err in msgs]


def decoded(dec, chunks):
    """What dec.feed() returns for each of chunks (norm()); an error, as
    (type, message), ends the stream (the connection is dropped)."""
    out = []
    for c in chunks:
        try:
            out.append(norm(dec.feed(c)))
        except pollex.ProtocolError as e:
            out.append((type(e), str(e)))
            break
    return out


def fast(chunks):
    return decoded(_wire.Decoder(), chunks)


def splits(data, rng):
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), 5))
        yield [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


class Decoder(unittest.TestCase):

    def check(self, msgs):
        data = b"".join(m + b"\0" for m in msgs)
        rng = random.Random(15)
        for chunks in splits(data, rng):
            self.assertEqual(fast(chunks), decoded(SlowDecoder(), chunks))

    def test_good_replies(self):
        got, = fast([b"".join(m + b"\0" for m in GOOD)])
        self.assertEqual(got, norm([_wire.decode_message(m) for m in GOOD]))
        self.assertEqual(got[0][0]["done"][0]["result"],
                         {"name": "caf\u00e9", "emoji": "\U0001f600"})
        self.assertEqual(got[1][0]["done"][0]["result"],
                         {"name": "caf\u00e9", "emoji": "\U0001f600",
                          "esc": 'a"b\\c\n\0'})
        self.assertIs(got[5][2][0], pollex.TaskNotFound)
        self.check(GOOD)

    def test_every_split_point(self):
        data = b"".join(m + b"\0" for m in GOOD[:3])
        want = norm([_wire.decode_message(m) for m in GOOD[:3]])
        for i in range(len(data) + 1):
            got = fast([data[:i], data[i:]])
            self.assertEqual([m for ms in got for m in ms], want)

    def test_bad_message_among_good(self):
        for bad in BAD:
            with self.subTest(bad=bad):
                self.check(GOOD[:2] + [bad] + GOOD[2:4])
                self.check([bad] + GOOD[:1])

    def test_partial_message_kept(self):
        dec = _wire.Decoder()
        self.assertEqual(dec.feed(GOOD[0][:10]), [])
        self.assertTrue(dec.partial)
        self.assertEqual(dec.feed(GOOD[0][10:] + b"\0" + GOOD[1][:5]),
                         [_wire.decode_message(GOOD[0])])
        self.assertTrue(dec.partial)


class Records(unittest.TestCase):

    def test_record_or_task(self):
        plain = task("a", result={"v": "caf\u00e9"})
        self.assertIs(task_record(plain), plain)
        self.assertEqual(as_task(plain), Task.from_json(plain))
        for other in (task("b", "failed", error={"code": "c",
                                                 "message": "m"}),
                      task("c", new_member=1),
                      dict(task("d"), extra=1)):
            r = task_record(other)
            self.assertIsInstance(r, Task)
            self.assertEqual(r, Task.from_json(other))
        for bad in ({"id": "x"}, dict(task("e"), id=5),
                    dict(task("f"), state=None), "t",
                    task("g", "failed", error={"code": "c"})):
            with self.assertRaises(pollex.ProtocolError):
                task_record(bad)

    def test_wait_replies(self):
        msgs = _wire.Decoder().feed(b"".join(m + b"\0" for m in GOOD[:5]))
        got = []
        fails = []
        err, drop, ended, good = _wire.wait_replies(
            msgs, ["t1", "t2", "t3", "t4", "t5"],
            lambda ids, e: fails.append((ids, e)), got.extend)
        self.assertEqual((err, drop, ended, good, fails),
                         (None, False, False, True, []))
        # t4 is pending: not handed over.
        self.assertEqual([as_task(r).id for r in got],
                         ["t1", "t2", "t3", "t5"])
        for r, raw in zip(got, GOOD[:3] + GOOD[4:5]):
            self.assertEqual(as_task(r), Task.from_json(
                json.loads(raw)["parameters"]["done"][0]))
        self.assertEqual(as_task(got[3]).extra, {"new_member": {"x": 1}})

    def test_wait_replies_error_after_tasks(self):
        msgs = _wire.Decoder().feed(b"".join(
            m + b"\0" for m in GOOD[:1] + GOOD[5:6] + GOOD[1:2]))
        order = []
        err, drop, ended, good = _wire.wait_replies(
            msgs, ["t1", "t2", "t6"],
            lambda ids, e: order.append(("fail", ids, type(e))),
            lambda rs: order.append(("resolve",
                                     [as_task(r).id for r in rs])))
        # The task before the error is resolved first; the one after it
        # is not read (the call is dropped and made again).
        self.assertEqual(order, [("resolve", ["t1"]),
                                 ("fail", ["t6"], pollex.TaskNotFound)])
        self.assertTrue(drop)
        self.assertIsNone(err)

    def test_wait_replies_bad_task(self):
        msgs = [({"done": [task("t1"), {"id": "t2"}], "timed_out": False},
                 True, None)]
        got = []
        err, drop, ended, good = _wire.wait_replies(
            msgs, ["t1", "t2"], None, got.extend)
        self.assertIsInstance(err, pollex.ProtocolError)
        self.assertEqual(got, [])
        msgs = [({"done": "t1", "timed_out": False}, True, None)]
        err, drop, ended, good = _wire.wait_replies(
            msgs, ["t1"], None, got.extend)
        self.assertIsInstance(err, pollex.ProtocolError)
        msgs = [({"done": []}, True, None)]
        err, drop, ended, good = _wire.wait_replies(
            msgs, ["t1"], None, got.extend)
        self.assertIsInstance(err, pollex.ProtocolError)


class LightFuture(unittest.TestCase):
    """pollex.Future with its lighter Condition behaves as a
    concurrent.futures.Future."""

    def future(self):
        class Owner:
            pass
        self.owner = Owner()
        return pollex.Future(self.owner, "t")

    def test_light_condition_in_use(self):
        from pollex import executor
        if executor._LIGHT:
            self.assertIsInstance(self.future()._condition,
                                  executor._Condition)

    def test_waits(self):
        import concurrent.futures as cf
        f = self.future()
        with self.assertRaises(cf.TimeoutError):
            f.result(0.01)
        self.assertEqual(cf.wait([f], 0.01).not_done, {f})
        seen = []
        f.add_done_callback(seen.append)
        started = threading.Event()

        def setter():
            started.wait(BOUND)
            with f._condition:      # the waiter is in wait() by now
                f.set_result(5)
        t = threading.Thread(target=setter)
        t.start()
        with f._condition:
            started.set()
            self.assertTrue(f._condition.wait(BOUND))
        t.join(BOUND)
        self.assertEqual(f.result(0), 5)
        self.assertEqual(seen, [f])
        self.assertEqual(list(cf.as_completed([f], BOUND)), [f])
        self.assertIn("finished", repr(f))
        g = self.future()
        self.assertTrue(cf.Future.cancel(g))
        self.assertTrue(g.cancelled())
        with self.assertRaises(cf.CancelledError):
            g.result(0)


N = 300


def burst_server(gate=None):
    """A fake pollexd: Submit answers ids t0..t(N-1); a Wait gets every
    one of its ids finished in one burst of replies (after gate is set,
    when there is one): even ids succeeded with non-ASCII results, odd
    ones failed."""
    def reply(call):
        m = call["method"]
        if m == "io.pollex.Submit":
            n = len(call["parameters"]["tasks"])
            return json.dumps({"parameters": {
                "ids": ["t%d" % i for i in range(n)],
                "created": [True] * n}}).encode() + b"\0"
        if m == "io.pollex.Wait":
            if gate is not None:
                gate.wait(BOUND)
            ids = call["parameters"]["ids"]
            out = []
            for k, tid in enumerate(ids):
                i = int(tid[1:])
                if i % 2:
                    t = task(tid, "failed", error={
                        "code": "E%d" % i, "message": "\u00e9chec \U0001f600"})
                else:
                    t = task(tid, result={"i": i, "s": "caf\u00e9 \U0001f600"})
                out.append(wait_reply(t, k < len(ids) - 1) + b"\0")
            return b"".join(out)
        return b'{"error":"org.varlink.service.MethodNotImplemented",' \
            b'"parameters":{}}\0'
    return FakeServer(reply)


class Burst(unittest.TestCase):

    def test_executor(self):
        srv = burst_server()
        self.addCleanup(srv.close)
        with pollex.Executor("p", srv.path) as ex:
            fs = ex.submit_many({"args": {"n": i}} for i in range(N))
            for i, f in enumerate(fs):
                if i % 2:
                    with self.assertRaises(pollex.TaskFailed) as cm:
                        f.result(BOUND)
                    self.assertEqual(cm.exception.code, "E%d" % i)
                    self.assertEqual(f.task.error.message,
                                     "\u00e9chec \U0001f600")
                else:
                    self.assertEqual(f.result(BOUND),
                                     {"i": i, "s": "caf\u00e9 \U0001f600"})
                    self.assertIsInstance(f.task, Task)
                    self.assertEqual(f.task.id, "t%d" % i)
                    self.assertEqual(f.task.state, "succeeded")
                    self.assertIs(f.task, f.task)

    def test_aio(self):
        srv = burst_server()
        self.addCleanup(srv.close)

        async def main():
            async with pollex.aio.Client(srv.path, timeout=BOUND) as c:
                hs = await c.submit_many({"poller": "p", "args": {"n": i}}
                                         for i in range(N))
                res = await asyncio.gather(*hs, return_exceptions=True)
                for i, r in enumerate(res):
                    if i % 2:
                        self.assertIsInstance(r, pollex.TaskFailed)
                        self.assertEqual(r.code, "E%d" % i)
                    else:
                        self.assertEqual(r, {"i": i,
                                             "s": "caf\u00e9 \U0001f600"})
                t = await hs[0].wait()
                self.assertIsInstance(t, Task)
                self.assertEqual(t.result["i"], 0)
        asyncio.run(asyncio.wait_for(main(), BOUND))

    def test_aio_awaiter_cancelled(self):
        # Two awaiters of one handle: cancelling one (a timeout, its task
        # cancelled) leaves the other waiting for the task.
        gate = threading.Event()
        srv = burst_server(gate)
        self.addCleanup(srv.close)
        self.addCleanup(gate.set)

        async def main():
            async with pollex.aio.Client(srv.path, timeout=BOUND) as c:
                h, = await c.submit_many([{"poller": "p"}])
                a = asyncio.ensure_future(h.wait())
                b = asyncio.ensure_future(h.result())
                d = asyncio.ensure_future(h.wait())
                await asyncio.sleep(0)      # let them start awaiting
                a.cancel()
                with self.assertRaises(asyncio.TimeoutError):
                    await h.wait(timeout=0.01)
                with self.assertRaises(asyncio.CancelledError):
                    await a
                gate.set()
                self.assertEqual(await b, {"i": 0,
                                           "s": "caf\u00e9 \U0001f600"})
                self.assertEqual((await d).id, "t0")
                self.assertEqual((await h)["i"], 0)
        asyncio.run(asyncio.wait_for(main(), BOUND))


if __name__ == "__main__":
    unittest.main()
