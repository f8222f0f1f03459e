# SPDX-License-Identifier: ISC
"""pollex.Executor: a concurrent.futures.Executor whose futures are tasks
of a pollexd poller.

One background thread and one streamed Wait connection serve every future
of an executor.  The thread keeps a single ``io.pollex.Wait`` call with
"more" open for all outstanding task ids; pollexd answers each task in a
reply of its own as it finishes.  A Wait's ids are fixed, so when futures
are added the thread replaces the call (closing its connection drops the
old one in pollexd) with one for every outstanding id; a replacement waits
up to ``restart_gap`` plus 20 us per id already waited for, unless the new
ids are as many as the old (_wire.replace_delay), so that a burst of
submits shares one and a growing set costs O(n) resent ids.
Nothing in Python polls: the thread sleeps in select() until pollexd
answers or a future is added.
"""

import collections
import concurrent.futures as cf
from concurrent.futures import _base
import select
import socket as _socket
import threading
import time
import weakref

from . import _wire
from .client import Client, Connection
from .errors import ConnectionError, Error, ProtocolError, ShuttingDown
from .types import as_task

__all__ = ["Executor", "Future"]


class _Condition(threading.Condition):
    """The threading.Condition of one future, quicker to make and with
    fewer objects for the garbage collector (a future has one, and an
    executor may have many thousands of futures): its lock's methods are
    looked up when used instead of being bound when it is made."""

    def __init__(self):
        self._lock = threading.RLock()
        self._waiters = collections.deque()

    def acquire(self, *args, **kw):
        return self._lock.acquire(*args, **kw)

    def release(self):
        self._lock.release()

    def _is_owned(self):
        return self._lock._is_owned()

    def _release_save(self):
        return self._lock._release_save()

    def _acquire_restore(self, state):
        self._lock._acquire_restore(state)


def _light_futures():
    """True when concurrent.futures.Future.__init__ sets what it has set
    from Python 3.2 to 3.13 (then Future.__init__ sets it itself, with a
    _Condition), and threading.Condition has the members _Condition
    replaces."""
    try:
        f = cf.Future()
        c = threading.Condition()
        return (sorted(vars(f)) == ["_condition", "_done_callbacks",
                                    "_exception", "_result", "_state",
                                    "_waiters"] and
                type(f._condition) is threading.Condition and
                f._state == _base.PENDING and f._result is None and
                f._exception is None and f._waiters == [] and
                f._done_callbacks == [] and
                sorted(vars(c)) == ["_acquire_restore", "_is_owned", "_lock",
                                    "_release_save", "_waiters", "acquire",
                                    "release"] and
                hasattr(c._lock, "_is_owned"))
    except Exception:
        return False


_LIGHT = _light_futures()


class Future(cf.Future):
    """A concurrent.futures.Future for one pollex task.

    ``task_id`` is the task's id (keep it to ``attach()`` later, from any
    process); ``task`` is the finished Task once the future is done.
    ``cancel()`` asks pollexd to cancel the task and returns True only when
    it was cancelled.
    """

    def __init__(self, executor, task_id):
        if _LIGHT:
            # What cf.Future.__init__ does, with a lighter Condition.
            self._condition = _Condition()
            self._state = _base.PENDING
            self._result = None
            self._exception = None
            self._waiters = []
            self._done_callbacks = []
        else:
            super().__init__()
        self.task_id = task_id
        self._task = None
        self._executor = weakref.ref(executor)

    @property
    def task(self):
        t = self._task
        if type(t) is dict:     # built when first asked for
            t = self._task = as_task(t)
        return t

    @task.setter
    def task(self, task):
        self._task = task

    def __repr__(self):
        return "<pollex.Future %s task=%s>" % (
            super().__repr__()[1:-1], self.task_id)

    def cancel(self):
        """Ask pollexd to cancel the task (io.pollex.Cancel).

        True when the task is now cancelled (this future and every other
        future of the task are then cancelled); False when it finished
        first, the poller's cancel function refused or failed
        (``cancel_reason`` says why), or pollexd could not be reached.
        A future already cancelled answers True, a finished one False,
        as concurrent.futures does."""
        if self.done():
            return self.cancelled()
        ex = self._executor()
        if ex is None:
            return False
        try:
            r = ex._client_call(lambda c: c.cancel(self.task_id),
                                retry_sent=True)
        except Error as e:
            self.cancel_reason = str(e)
            return False
        self.cancel_reason = r.reason
        if r.cancelled or r.state == "cancelled":
            ex._mark_cancelled(self.task_id)
            return True
        return False

    cancel_reason = None

    def _cancel_locally(self):
        if cf.Future.cancel(self):
            self.set_running_or_notify_cancel()


class Executor(cf.Executor):
    """Run tasks of one pollexd poller as concurrent.futures futures.

    ``poller``: the poller's name.  ``socket``: the socket path (found as
    libpollex finds it when None).  ``reconnect_timeout``: while pollexd
    cannot be reached (it restarts, say), the executor reconnects with
    exponential backoff (``backoff_initial`` doubling up to
    ``backoff_max``) and futures go on waiting; after this many seconds
    without a connection every outstanding future fails with
    pollex.ConnectionError.  None: never give up.  ``io_timeout`` bounds
    the replies of Submit and Get once connected (Cancel waits for the
    poller's cancel function, which pollexd bounds).  ``restart_gap``:
    see _wire.replace_delay.
    """

    def __init__(self, poller, socket=None, *, reconnect_timeout=300.0,
                 io_timeout=60.0, backoff_initial=0.05, backoff_max=2.0,
                 restart_gap=0.02):
        self.poller = poller
        self.client = Client(socket, timeout=io_timeout)
        self.socket = self.client.socket
        self.reconnect_timeout = reconnect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.restart_gap = restart_gap
        self._lock = threading.Lock()
        self._futures = {}          # task id -> [Future, ...]
        self._new = set()           # ids not in the Wait in flight
        self._shutdown = False
        self._thread = None
        self._wake_r, self._wake_w = _socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        #: Connections the Wait stream opened (for tests and curiosity).
        self.wait_connections = 0

    def __repr__(self):
        return "pollex.Executor(%r, socket=%r)" % (self.poller, self.socket)

    # Submitting

    def submit(self, args=None, *, ref=None, labels=None, timeout=None,
               idempotency_key=None):
        """Submit one task to the poller; returns its Future.

        ``args`` go to the poller's start function; ``ref`` adopts a remote
        task that exists already; ``timeout`` (seconds) is the task's
        deadline in pollexd: past it the task expires and the future raises
        pollex.TaskExpired.  A refusal by pollexd (PollerNotFound,
        InvalidParameter, QuotaExceeded...) is raised here, since no task
        exists; so is pollex.ConnectionError when pollexd stays
        unreachable for ``reconnect_timeout``."""
        spec = _wire.task_spec(self.poller, ref, args, labels, timeout, None,
                               idempotency_key)
        return self.submit_many([spec])[0]

    def submit_many(self, specs):
        """Submit many tasks, in one Submit call per 10,000 (each call all
        or none): each spec a dict of ``args``, ``ref``, ``labels``,
        ``timeout``, ``deadline``, ``idempotency_key`` (``poller``
        defaults to the executor's).  Returns their futures in order.  When
        a call fails, the exception's ``futures`` holds the futures of the
        calls before it, whose tasks exist."""
        specs = [dict(s) for s in specs]
        for s in specs:
            s.setdefault("poller", self.poller)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after "
                                   "shutdown")
        out = []
        for i in range(0, len(specs), 10000):
            chunk = specs[i:i + 10000]
            retry = all("idempotency_key" in s for s in chunk)
            try:
                r = self._client_call(lambda c: c.submit_many(chunk),
                                      retry_sent=retry)
            except Error as e:
                # The calls before this one made their tasks: their
                # futures go with the error.
                e.futures = out
                raise
            out.extend(self._track(r.ids))
        return out

    def attach(self, task_id):
        """A Future for a task submitted earlier, by this process or any
        other (the task id is the continuation token).  Raises
        pollex.TaskNotFound when pollexd has no such task (or the caller
        may not see it).  The task may belong to any poller."""
        task = self._client_call(lambda c: c.get(task_id), retry_sent=True)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot attach new futures after "
                                   "shutdown")
        fut, = self._track([task.id])
        if task.done:
            self._resolve([task])
        return fut

    def map(self, iterable, *, timeout=None, labels=None, task_timeout=None):
        """Submit a task per element of ``iterable`` (each the ``args`` of
        one task, in one Submit call per 10,000) and yield their results in
        order, as Executor.map does.  ``timeout`` bounds the whole
        iteration (concurrent.futures.TimeoutError); a failed task raises
        its TaskFailed when its turn comes.  As with Executor.map, leaving
        the iteration early (an exception, closing the generator) cancels
        the tasks not yet yielded; ``task_timeout`` is each task's deadline
        in pollexd."""
        end = None if timeout is None else time.monotonic() + timeout
        specs = []
        for a in iterable:
            s = {"poller": self.poller, "args": a}
            if labels is not None:
                s["labels"] = dict(labels)
            if task_timeout is not None:
                s["timeout"] = float(task_timeout)
            specs.append(s)
        fs = self.submit_many(specs)

        def results():
            try:
                fs.reverse()
                while fs:
                    f = fs[-1]
                    if end is None:
                        v = f.result()
                    else:
                        v = f.result(end - time.monotonic())
                    fs.pop()
                    yield v
            finally:
                for f in fs:
                    f.cancel()
        return results()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """No new futures after this (submit raises RuntimeError).

        ``cancel_futures``: ask pollexd to cancel every outstanding task
        (as Executor's cancel_futures drops work not started; here every
        task has started remotely, so each is asked; a refused one keeps
        its future waiting).  ``wait``: return once every future is done
        (as Executor waits for running work); the remote tasks run on
        whatever happens to this process.  Without ``wait`` the
        background thread ends by itself after the last future."""
        with self._lock:
            self._shutdown = True
            outstanding = [f for fs in self._futures.values() for f in fs]
        if cancel_futures:
            for f in outstanding:
                f.cancel()
        self._wake()
        with self._lock:
            t = self._thread
            if t is None:
                self._close_wake()
                self.client.close()
        if wait:
            cf.wait(outstanding)
            if t is not None:
                t.join()
            self.client.close()

    def _close_wake(self):
        self._wake_r.close()
        self._wake_w.close()

    # Internals

    def _client_call(self, fn, retry_sent=False):
        """fn(client), retried with backoff while pollexd cannot be
        reached (at connect time; after a call was sent only when
        retry_sent says it is safe), up to reconnect_timeout."""
        start = time.monotonic()
        delay = self.backoff_initial
        while True:
            try:
                try:
                    self.client.connect()
                except ConnectionError:
                    sent = False
                    raise
                sent = True
                return fn(self.client)
            except ProtocolError:
                raise
            except (ConnectionError, ShuttingDown) as e:
                # Sent again only when that cannot do anything twice.
                if sent and not retry_sent:
                    raise
                err = e
            if (self.reconnect_timeout is not None and
                    time.monotonic() - start + delay > self.reconnect_timeout):
                raise err
            time.sleep(delay)   # backoff before reconnecting
            delay = min(delay * 2, self.backoff_max)

    def _track(self, ids):
        futs = [Future(self, tid) for tid in ids]
        with self._lock:
            for fut in futs:
                self._futures.setdefault(fut.task_id, []).append(fut)
                self._new.add(fut.task_id)
            if self._thread is None:
                if self._wake_r.fileno() == -1:
                    self._wake_r, self._wake_w = _socket.socketpair()
                    self._wake_r.setblocking(False)
                    self._wake_w.setblocking(False)
                self._thread = threading.Thread(
                    target=self._run, name="pollex-executor-%s" % self.poller,
                    daemon=True)
                self._thread.start()
        self._wake()
        return futs

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass    # the pipe is full: the thread will wake anyway

    def _drain_wake(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _take(self, task_id):
        with self._lock:
            self._new.discard(task_id)
            return self._futures.pop(task_id, [])

    def _resolve(self, tasks):
        """Settle the futures of finished tasks (a list of Tasks or
        types.task_record() dicts), taking them all under one hold of the
        lock."""
        taken = []
        with self._lock:
            pop = self._futures.pop
            discard = self._new.discard
            for task in tasks:
                tid = task["id"] if type(task) is dict else task.id
                discard(tid)
                fs = pop(tid, None)
                if fs:
                    taken.append((task, fs))
        for task, fs in taken:
            if type(task) is dict:
                if len(fs) == 1 and task["state"] == "succeeded":
                    f, = fs
                    f._task = task      # the Task is built when asked for
                    try:
                        f.set_result(task.get("result"))
                    except cf.InvalidStateError:
                        pass
                    continue
                # (futures of one task share its Task)
                task = as_task(task)
            for f in fs:
                f.task = task
                if task.state == "cancelled":
                    f._cancel_locally()
                    continue
                try:
                    f.set_result(task.outcome())
                except cf.CancelledError:
                    f._cancel_locally()
                except Error as e:
                    try:
                        f.set_exception(e)
                    except cf.InvalidStateError:
                        pass
                except cf.InvalidStateError:
                    pass

    def _mark_cancelled(self, task_id):
        for f in self._take(task_id):
            f._cancel_locally()

    def _fail(self, ids, exc):
        for tid in ids:
            for f in self._take(tid):
                try:
                    f.set_exception(exc)
                except cf.InvalidStateError:
                    pass

    def _run(self):
        try:
            self._loop()
        except BaseException as e:     # never leave futures hanging
            with self._lock:
                ids = list(self._futures)
            self._fail(ids, Error("the pollex executor's thread failed: %r"
                                  % (e,)))
            raise
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
            if self._shutdown:
                self.client.close()

    def _loop(self):
        conn = None
        dec = None
        call_ids = []       # ids of the Wait in flight on conn (None: none)
        in_call = False
        last_start = 0.0
        down_since = None   # when the connection was lost, while it is
        delay = self.backoff_initial
        wake = self._wake_r

        def lost(err):
            # Back off before the next connection; give up after
            # reconnect_timeout without one.
            nonlocal down_since, delay
            now = time.monotonic()
            if down_since is None:
                down_since = now
            if (self.reconnect_timeout is not None and
                    now - down_since >= self.reconnect_timeout):
                self._give_up(err)
                down_since = None
                delay = self.backoff_initial
                return
            time.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

        def drop():
            nonlocal conn, in_call
            if conn is not None:
                conn.close()
                conn = None
            in_call = False

        while True:
            self._drain_wake()
            with self._lock:
                outstanding = len(self._futures)
                new = len(self._new)
                if not outstanding and self._shutdown:
                    # Under the lock: a future tracked after this starts
                    # a thread of its own.
                    self._thread = None
                    self._close_wake()
                    break
            if not outstanding:
                drop()
                select.select([wake], [], [])
                continue
            if conn is None or not in_call or new:
                gap = _wire.replace_delay(self.restart_gap, len(call_ids),
                                          new, time.monotonic() - last_start)
                if conn is not None and in_call and gap > 0:
                    # Let a burst of submits share one replacement; read
                    # what comes meanwhile.
                    r, _, _ = select.select([conn.sock], [], [], gap)
                    if not r:
                        continue
                else:
                    drop()
                    with self._lock:
                        call_ids = sorted(self._futures)
                        self._new.clear()
                    try:
                        conn = Connection(self.socket, None)
                        self.wait_connections += 1
                        conn.send("Wait", {"ids": call_ids}, more=True)
                    except ConnectionError as e:
                        drop()
                        with self._lock:
                            self._new.update(call_ids)
                        lost(e)
                        continue
                    dec = _wire.Decoder()
                    in_call = True
                    last_start = time.monotonic()
                    continue
            else:
                r, _, _ = select.select([conn.sock, wake], [], [])
                if conn.sock not in r:
                    continue
            err = None
            try:
                data = conn.sock.recv(1 << 18)
                if not data:
                    raise ConnectionError("pollexd closed the connection")
                msgs = dec.feed(data)
            except ConnectionError as e:
                err, msgs = e, []
            except OSError as e:
                err = ConnectionError("lost the connection to pollexd: %s"
                                      % e)
                msgs = []
            if err is None:
                err, failed, ended, good = _wire.wait_replies(
                    msgs, call_ids, self._fail, self._resolve)
                if good:
                    # pollexd is (back) there.
                    down_since = None
                    delay = self.backoff_initial
                if ended:
                    in_call = False     # the call ended; the next begins
                if failed:
                    drop()
            if err is not None:
                drop()
                lost(err)
        drop()

    def _give_up(self, err):
        with self._lock:
            ids = list(self._futures)
        exc = ConnectionError(
            "gave up on pollexd at %s after %s s without a connection: %s"
            % (self.socket, self.reconnect_timeout, err))
        self._fail(ids, exc)
