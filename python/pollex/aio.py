# SPDX-License-Identifier: ISC
"""pollex.aio: a native asyncio client of pollexd.

::

    async with pollex.aio.Client() as c:
        h = await c.submit("publish", args={"object": "img-1"})
        result = await h            # or: task = await h.wait()
        async for ev in c.watch(poller="publish"):
            ...

Calls share one connection (serialised, in order).  Task handles are
awaited through one streamed Wait on a second connection, kept by one
asyncio task for all handles of the client, and resumed after pollexd
restarts (reconnecting with backoff, up to ``reconnect_timeout``).
Streams (``wait_iter``, ``watch``) have connections of their own.
"""

import asyncio
import math
import time

from . import _wire
from .errors import ConnectionError, Error, ProtocolError
from .types import (CancelResult, Event, Page, Poller, ServiceInfo, Stats,
                    SubmitResult, Task, WaitResult, as_task)

__all__ = ["Client", "TaskHandle", "connect"]


class _Conn:
    def __init__(self, reader, writer, path):
        self.reader = reader
        self.writer = writer
        self.path = path

    @classmethod
    async def open(cls, path, timeout=None):
        try:
            r, w = await asyncio.wait_for(asyncio.open_unix_connection(
                path, limit=_wire.MAX_MESSAGE), timeout)
        except asyncio.TimeoutError:
            raise ConnectionError("cannot connect to pollexd at %s: timed "
                                  "out" % path) from None
        except OSError as e:
            raise ConnectionError(e.errno, "cannot connect to pollexd at "
                                  "%s: %s" % (path, e.strerror or e)) \
                from None
        return cls(r, w, path)

    def close(self):
        self.writer.close()

    async def send(self, method, params=None, more=False):
        self.writer.write(_wire.encode_call(method, params, more))
        try:
            await self.writer.drain()
        except OSError as e:
            self.close()
            raise ConnectionError("lost the connection to pollexd at %s: %s"
                                  % (self.path, e)) from None

    async def recv(self):
        try:
            raw = await self.reader.readuntil(b"\0")
        except asyncio.IncompleteReadError as e:
            self.close()
            raise ConnectionError(
                "pollexd closed the connection" +
                (" in the middle of a reply" if e.partial else "")) from None
        except asyncio.LimitOverrunError:
            self.close()
            raise ProtocolError("pollexd sent a message over %d bytes"
                                % _wire.MAX_MESSAGE) from None
        except OSError as e:
            self.close()
            raise ConnectionError("lost the connection to pollexd at %s: %s"
                                  % (self.path, e)) from None
        try:
            return _wire.decode_message(raw[:-1])
        except ProtocolError:
            self.close()
            raise

    async def stream(self, method, params=None):
        await self.send(method, params, more=True)
        while True:
            p, continues, err = await self.recv()
            if err is not None:
                raise err
            yield p
            if not continues:
                return


def _outcome(rec):
    """The outcome() of a task (a Task or a types.task_record() dict), a
    cancelled task raising asyncio.CancelledError."""
    if type(rec) is dict and rec["state"] == "succeeded":
        return rec.get("result")
    try:
        return as_task(rec).outcome()
    except Exception as e:
        import concurrent.futures as cf
        if isinstance(e, cf.CancelledError) and \
                not isinstance(e, asyncio.CancelledError):
            raise asyncio.CancelledError(str(e)) from None
        raise


class TaskHandle:
    """An awaitable handle of one task: ``await handle`` is the task's
    result, or raises TaskFailed, TaskExpired or asyncio.CancelledError
    as the task ended."""

    def __init__(self, client, task_id, created=True):
        self.client = client
        self.id = task_id
        #: False when Submit gave back an existing task.
        self.created = created

    def __repr__(self):
        return "<pollex.aio.TaskHandle %s>" % self.id

    def __await__(self):
        # result() without its coroutine and wait_for.
        task = yield from self.client._waiter_future(self.id).__await__()
        return _outcome(task)

    async def wait(self, timeout=None):
        """The finished Task; asyncio.TimeoutError after ``timeout``
        seconds (the task goes on)."""
        # A future of this awaiter's own: cancelling it (the timeout, the
        # awaiting task cancelled) leaves the other awaiters of the task.
        fut = self.client._waiter_future(self.id)
        if timeout is None:
            return as_task(await fut)
        return as_task(await asyncio.wait_for(fut, timeout))

    async def result(self, timeout=None):
        return _outcome(await self.wait(timeout))

    async def get(self):
        return await self.client.get(self.id)

    async def cancel(self):
        """Ask pollexd to cancel the task: a CancelResult, true only when
        the task was cancelled."""
        return await self.client.cancel(self.id)


class Client:
    """An asyncio client of pollexd; ``socket`` is found as libpollex
    finds it when None.  ``timeout`` bounds connecting and each call's
    reply (None: no bound).  ``reconnect_timeout``: how long awaited
    handles ride out pollexd being unreachable (None: forever)."""

    def __init__(self, socket=None, timeout=None, *, reconnect_timeout=300.0,
                 backoff_initial=0.05, backoff_max=2.0, restart_gap=0.02):
        self.socket = _wire.resolve_socket(socket)
        self.timeout = timeout
        self.reconnect_timeout = reconnect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.restart_gap = restart_gap
        self._conn = None
        self._lock = None
        self._waits = {}        # task id -> [asyncio.Future of its Task]
        self._new = set()       # ids not in the Wait in flight
        self._wake = None
        self._waiter = None
        self._closed = False
        #: Connections the handles' Wait stream opened.
        self.wait_connections = 0

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def connect(self):
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._connection()

    async def _connection(self):
        if self._conn is None:
            self._conn = await _Conn.open(self.socket, self.timeout)
        return self._conn

    async def close(self):
        """Close the connections; handles still awaited fail with
        ConnectionError."""
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._waiter is not None:
            self._waiter.cancel()
            try:
                await self._waiter
            except (asyncio.CancelledError, Exception):
                pass
            self._waiter = None
        for fs in self._waits.values():
            exc = ConnectionError("the client was closed")
            for f in fs:
                if not f.done():
                    f.set_exception(exc)
        self._waits.clear()

    async def call(self, method, parameters=None, extra_time=0):
        """Any method; the reply's parameters as a dict."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            conn = await self._connection()
            try:
                await conn.send(method, parameters)
                tmo = None if self.timeout is None or \
                    extra_time == math.inf else self.timeout + extra_time
                try:
                    p, continues, err = await asyncio.wait_for(conn.recv(),
                                                               tmo)
                except asyncio.TimeoutError:
                    raise ConnectionError("no reply from pollexd within "
                                          "the timeout") from None
            except ConnectionError:
                conn.close()
                self._conn = None
                raise
            if err is not None:
                raise err
            return p

    # io.pollex

    async def submit(self, poller, ref=None, args=None, *, labels=None,
                     timeout=None, deadline=None, idempotency_key=None):
        """Submit one task; an awaitable TaskHandle."""
        spec = _wire.task_spec(poller, ref, args, labels, timeout, deadline,
                               idempotency_key)
        return (await self.submit_many([spec]))[0]

    async def submit_many(self, specs):
        specs = list(specs)
        r = SubmitResult.from_json(await self.call("Submit",
                                                   {"tasks": specs}))
        if len(r.ids) != len(specs):
            raise ProtocolError("Submit of %d tasks answered %d ids"
                                % (len(specs), len(r.ids)))
        return [TaskHandle(self, i, c) for i, c in zip(r.ids, r.created)]

    def handle(self, task_id):
        """A TaskHandle for a task submitted earlier, by anyone."""
        return TaskHandle(self, task_id, False)

    async def get(self, id):
        return Task.from_json((await self.call("Get", {"id": id})).get("task"))

    async def cancel(self, id):
        """A CancelResult, true only when the task was cancelled; the
        reply waits for the poller's cancel function, not for the client's
        timeout."""
        return CancelResult.from_json(
            await self.call("Cancel", {"id": id}, math.inf))

    async def wait(self, ids, return_when=None, timeout=None):
        """One Wait on a connection of its own (so other calls are not
        held behind it): a WaitResult."""
        if isinstance(ids, str):
            ids = [ids]
        p = _wire.wait_params(ids, return_when, timeout)
        conn = await _Conn.open(self.socket, self.timeout)
        try:
            await conn.send("Wait", p)
            params, _, err = await conn.recv()
        finally:
            conn.close()
        if err is not None:
            raise err
        return WaitResult.from_json(params)

    async def wait_iter(self, ids, return_when=None, timeout=None):
        """A streamed Wait: yields each Task as it finishes."""
        if isinstance(ids, str):
            ids = [ids]
        conn = await _Conn.open(self.socket, self.timeout)
        try:
            async for params in conn.stream(
                    "Wait", _wire.wait_params(ids, return_when, timeout)):
                for t in WaitResult.from_json(params).done:
                    yield t
        finally:
            conn.close()

    async def watch(self, ids=None, poller=None, labels=None, initial=False):
        """Task events (Event), endless; ``ready`` first (after the
        ``current`` ones with ``initial``)."""
        conn = await _Conn.open(self.socket, self.timeout)
        try:
            async for params in conn.stream("Watch", _wire.watch_params(
                    ids, poller, labels, initial)):
                yield Event.from_json(params)
        finally:
            conn.close()

    async def list(self, states=None, poller=None, labels=None, owner=None,
                   after=None, limit=None):
        return Page.from_json(await self.call("List", _wire.list_params(
            states, poller, labels, owner, after, limit)))

    async def pollers(self):
        ps = (await self.call("Pollers")).get("pollers")
        if not isinstance(ps, list):
            raise ProtocolError("Pollers answered without a list of pollers")
        return [Poller.from_json(p) for p in ps]

    async def stats(self):
        return Stats.from_json(await self.call("Stats"))

    async def get_info(self):
        return ServiceInfo.from_json(
            await self.call("org.varlink.service.GetInfo"))

    async def get_interface_description(self, interface=_wire.INTERFACE):
        d = (await self.call("org.varlink.service.GetInterfaceDescription",
                             {"interface": interface})).get("description")
        if not isinstance(d, str):
            raise ProtocolError("GetInterfaceDescription answered without "
                                "a description")
        return d

    # The shared waiter of the handles

    def _waiter_future(self, task_id):
        """A new future of the task's Task for one awaiter of it."""
        if self._closed:
            raise ConnectionError("the client was closed")
        f = asyncio.get_running_loop().create_future()
        fs = self._waits.get(task_id)
        if fs is not None:
            # (dropping the futures of awaiters that gave up)
            fs[:] = [g for g in fs if not g.done()]
            fs.append(f)
            return f
        self._waits[task_id] = [f]
        self._new.add(task_id)
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.ensure_future(self._wait_loop())
        return f

    def _settle(self, ids, exc):
        for tid in ids:
            self._new.discard(tid)
            for f in self._waits.pop(tid, ()):
                if not f.done():
                    f.set_exception(exc)

    def _resolve(self, tasks):
        pop = self._waits.pop
        discard = self._new.discard
        for t in tasks:     # Tasks or types.task_record() dicts
            tid = t["id"] if type(t) is dict else t.id
            discard(tid)
            fs = pop(tid, ())
            if len(fs) > 1:
                t = as_task(t)  # awaiters of one task share its Task
            for f in fs:
                if not f.done():
                    f.set_result(t)

    async def _wait_loop(self):
        conn = None
        rt = None           # the pending read of the stream
        dec = None
        call_ids = []
        in_call = False
        last_start = 0.0
        down_since = None
        delay = self.backoff_initial
        wake = self._wake

        async def lost(err):
            nonlocal down_since, delay
            now = time.monotonic()
            if down_since is None:
                down_since = now
            if (self.reconnect_timeout is not None and
                    now - down_since >= self.reconnect_timeout):
                self._settle(list(self._waits), ConnectionError(
                    "gave up on pollexd at %s after %s s without a "
                    "connection: %s" % (self.socket, self.reconnect_timeout,
                                        err)))
                down_since = None
                delay = self.backoff_initial
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

        def drop():
            nonlocal conn, rt, in_call
            if rt is not None:
                rt.cancel()
                rt = None
            if conn is not None:
                conn.close()
                conn = None
            in_call = False

        try:
            while True:
                if not self._waits:
                    drop()
                    wake.clear()
                    await wake.wait()
                    continue
                new = len(self._new)
                if conn is None or not in_call or new:
                    gap = _wire.replace_delay(
                        self.restart_gap, len(call_ids), new,
                        time.monotonic() - last_start)
                    if conn is not None and in_call and gap > 0:
                        await asyncio.wait({rt}, timeout=gap)
                        if not rt.done():
                            continue
                    else:
                        drop()
                        call_ids = sorted(self._waits)
                        self._new.clear()
                        try:
                            conn = await _Conn.open(self.socket, self.timeout)
                            self.wait_connections += 1
                            await conn.send("Wait", {"ids": call_ids},
                                            more=True)
                        except ConnectionError as e:
                            drop()
                            self._new.update(call_ids)
                            await lost(e)
                            continue
                        dec = _wire.Decoder()
                        in_call = True
                        last_start = time.monotonic()
                        rt = asyncio.ensure_future(
                            conn.reader.read(1 << 18))
                        continue
                else:
                    wake.clear()
                    wt = asyncio.ensure_future(wake.wait())
                    try:
                        await asyncio.wait({rt, wt},
                                           return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        wt.cancel()
                    if not rt.done():
                        continue
                err = None
                msgs = []
                try:
                    data = rt.result()
                    if not data:
                        raise ConnectionError(
                            "pollexd closed the connection")
                    msgs = dec.feed(data)
                except ConnectionError as e:
                    err = e
                except OSError as e:
                    err = ConnectionError("lost the connection to pollexd: "
                                          "%s" % e)
                rt = None
                if err is None:
                    err, failed, ended, good = _wire.wait_replies(
                        msgs, call_ids, self._settle, self._resolve)
                    if good:
                        down_since = None
                        delay = self.backoff_initial
                    if ended:
                        in_call = False
                    if failed:
                        drop()
                if err is not None:
                    drop()
                    await lost(err)
                elif conn is not None and in_call:
                    rt = asyncio.ensure_future(conn.reader.read(1 << 18))
        except asyncio.CancelledError:
            raise
        except BaseException as e:      # never leave handles hanging
            self._settle(list(self._waits), Error(
                "the pollex waiter task failed: %r" % (e,)))
            raise
        finally:
            drop()


def connect(socket=None, timeout=None, **kw):
    """A Client (use ``async with pollex.aio.connect() as c``)."""
    return Client(socket, timeout, **kw)
