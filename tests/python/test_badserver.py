# SPDX-License-Identifier: ISC
"""The client against a fake server that sends what pollexd never would:
every bad reply gives a clear pollex.ProtocolError or ConnectionError,
never a hang or a stray JSON or KeyError."""

import asyncio
import json
import os
import socket
import tempfile
import threading
import unittest

import pollex
import pollex.aio
from pxharness import BOUND


class FakeServer:
    """Answers each call on a Unix socket with reply(call) bytes (None:
    close the connection; ("close", bytes): send them, then close)."""

    def __init__(self, reply):
        self.reply = reply
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.calls = []
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        buf = b""
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    call = json.loads(raw)
                    self.calls.append(call)
                    out = self.reply(call)
                    if out is None:
                        return
                    close = isinstance(out, tuple)
                    if close:
                        out = out[1]
                    try:
                        c.sendall(out)
                    except OSError:
                        return
                    if close:
                        return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.dir.cleanup()


class BadReplies(unittest.TestCase):

    def serve(self, reply):
        srv = FakeServer(reply)
        self.addCleanup(srv.close)
        return srv

    def expect(self, reply, exc, words):
        srv = self.serve(lambda call: reply)
        with pollex.Client(srv.path, timeout=BOUND) as c:
            with self.assertRaises(exc) as cm:
                c.stats()
        self.assertIn(words, str(cm.exception))
        return cm.exception

    def test_not_json(self):
        e = self.expect(b"hello\0", pollex.ProtocolError, "not valid JSON")
        self.assertIsInstance(e, pollex.ConnectionError)
        self.assertIn("hello", str(e))

    def test_not_utf8(self):
        self.expect(b'{"parameters": "\xff"}\0', pollex.ProtocolError,
                    "not valid JSON")

    def test_not_an_object(self):
        self.expect(b"[1, 2]\0", pollex.ProtocolError, "not a JSON object")

    def test_not_a_reply(self):
        self.expect(b'{"method": "x"}\0', pollex.ProtocolError,
                    "not a varlink reply")

    def test_bad_parameters(self):
        self.expect(b'{"parameters": 5}\0', pollex.ProtocolError,
                    "parameters are not an object")

    def test_bad_error_name(self):
        self.expect(b'{"error": 5}\0', pollex.ProtocolError,
                    "error is not a name")

    def test_missing_members(self):
        self.expect(b'{"parameters": {"version": "1"}}\0',
                    pollex.ProtocolError, "without a required member")

    def test_closed_mid_reply(self):
        self.expect(("close", b'{"parame'), pollex.ConnectionError,
                    "closed the connection in the middle of a reply")

    def test_closed_without_reply(self):
        srv = self.serve(lambda call: None)
        with pollex.Client(srv.path, timeout=BOUND) as c:
            with self.assertRaises(pollex.ConnectionError) as cm:
                c.get("x")
        self.assertIn("closed the connection", str(cm.exception))

    def test_silence_times_out(self):
        srv = self.serve(lambda call: b"")
        with pollex.Client(srv.path, timeout=0.3) as c:
            with self.assertRaises(pollex.ConnectionError) as cm:
                c.stats()
        self.assertIn("timeout", str(cm.exception))

    def test_unknown_error_kept(self):
        srv = self.serve(lambda call: b'{"error": "com.example.Odd", '
                         b'"parameters": {"why": "odd"}}\0')
        with pollex.Client(srv.path, timeout=BOUND) as c:
            with self.assertRaises(pollex.VarlinkError) as cm:
                c.stats()
        self.assertEqual(cm.exception.name, "com.example.Odd")
        self.assertEqual(cm.exception.parameters, {"why": "odd"})
        self.assertIn("com.example.Odd", str(cm.exception))

    def test_ids_mismatch(self):
        srv = self.serve(lambda call: b'{"parameters": {"ids": [], '
                         b'"created": []}}\0')
        with pollex.Client(srv.path, timeout=BOUND) as c:
            with self.assertRaises(pollex.ProtocolError) as cm:
                c.submit("p", ref={})
        self.assertIn("answered 0 ids", str(cm.exception))

    def test_good_fake_reply_parses(self):
        # The control: a well-formed reply is accepted by the same server.
        task = {"id": "t1", "poller": "p", "state": "succeeded", "owner": 0,
                "created": 1.0, "updated": 2.0, "polls": 1,
                "poll_failures": 0, "result": {"ok": True},
                "new_member": 1}
        srv = self.serve(lambda call: json.dumps(
            {"parameters": {"task": task}}).encode() + b"\0")
        with pollex.Client(srv.path, timeout=BOUND) as c:
            t = c.get("t1")
        self.assertEqual(t.result, {"ok": True})
        self.assertEqual(t.extra, {"new_member": 1})

    def test_executor_submit_garbage(self):
        srv = self.serve(lambda call: b"garbage\0")
        with pollex.Executor("p", srv.path, reconnect_timeout=1) as ex:
            with self.assertRaises(pollex.ProtocolError):
                ex.submit({"a": 1})

    def test_executor_wait_garbage(self):
        # Submit answers well, the Wait stream with garbage: the future
        # fails after reconnect_timeout, saying what was wrong.
        def reply(call):
            if call["method"] == "io.pollex.Submit":
                return b'{"parameters": {"ids": ["t1"], "created": [true]}}\0'
            return b"{not json\0"
        srv = self.serve(reply)
        ex = pollex.Executor("p", srv.path, reconnect_timeout=0.5)
        f = ex.submit({"a": 1})
        e = f.exception(BOUND)
        self.assertIsInstance(e, pollex.ConnectionError)
        self.assertIn("not valid JSON", str(e))
        self.assertIn("gave up", str(e))
        ex.shutdown()
        # It retried with backoff, not in a tight loop.
        waits = [c for c in srv.calls if c["method"] == "io.pollex.Wait"]
        self.assertGreaterEqual(len(waits), 2)
        self.assertLess(len(waits), 20)

    def test_executor_wait_error(self):
        def reply(call):
            if call["method"] == "io.pollex.Submit":
                return b'{"parameters": {"ids": ["t1"], "created": [true]}}\0'
            return (b'{"error": "io.pollex.TaskNotFound", '
                    b'"parameters": {"id": "t1"}}\0')
        srv = self.serve(reply)
        with pollex.Executor("p", srv.path) as ex:
            f = ex.submit({"a": 1})
            with self.assertRaises(pollex.TaskNotFound):
                f.result(BOUND)

    def test_aio_garbage(self):
        srv = self.serve(lambda call: b"\x00")   # an empty message

        async def main():
            c = pollex.aio.Client(srv.path, timeout=BOUND)
            try:
                with self.assertRaises(pollex.ProtocolError) as cm:
                    await c.stats()
                self.assertIn("not valid JSON", str(cm.exception))
            finally:
                await c.close()
        asyncio.run(asyncio.wait_for(main(), BOUND))

    def test_aio_closed(self):
        srv = self.serve(lambda call: None)

        async def main():
            c = pollex.aio.Client(srv.path, timeout=BOUND)
            try:
                with self.assertRaises(pollex.ConnectionError) as cm:
                    await c.get("x")
                self.assertIn("closed the connection", str(cm.exception))
            finally:
                await c.close()
        asyncio.run(asyncio.wait_for(main(), BOUND))


if __name__ == "__main__":
    unittest.main()
