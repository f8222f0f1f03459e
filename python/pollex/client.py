# SPDX-License-Identifier: ISC
"""The blocking client: one method per io.pollex method."""

import math
import socket as _socket
import threading
import time

from . import _wire
from .errors import ConnectionError, ProtocolError
from .types import (CancelResult, Event, Page, Poller, ServiceInfo, Stats,
                    SubmitResult, Task, WaitResult)

__all__ = ["Client", "Connection"]


class Connection:
    """One varlink connection to pollexd: calls are answered in the order
    they were sent.  Not thread-safe on its own (Client adds a lock).

    ``timeout`` (seconds, or None for none) bounds connecting and each
    wait for a reply's bytes."""

    def __init__(self, path, timeout=None):
        self.path = path
        self.timeout = timeout
        self._dec = _wire.Decoder()
        self._pending = []
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except _socket.timeout:
            self.sock.close()
            raise ConnectionError("cannot connect to pollexd at %s: timed out"
                                  % path) from None
        except OSError as e:
            self.sock.close()
            raise ConnectionError(
                e.errno, "cannot connect to pollexd at %s: %s"
                % (path, e.strerror or e)) from None

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    @property
    def closed(self):
        return self.sock is None

    def send(self, method, parameters=None, more=False, oneway=False):
        data = _wire.encode_call(method, parameters, more, oneway)
        if self.sock is None:
            raise ConnectionError("the connection to pollexd is closed")
        try:
            self.sock.sendall(data)
        except (OSError, _socket.timeout) as e:
            self.close()
            raise ConnectionError("lost the connection to pollexd at %s: %s"
                                  % (self.path, e)) from None

    def recv(self, deadline=None):
        """The next reply as (parameters, continues, error or None).
        ``deadline`` (time.monotonic()) replaces the connection's timeout
        for this reply; math.inf waits as long as it takes."""
        while not self._pending:
            if self.sock is None:
                raise ConnectionError("the connection to pollexd is closed")
            if deadline == math.inf:
                self.sock.settimeout(None)
            elif deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    raise ConnectionError("no reply from pollexd in time")
                self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except _socket.timeout:
                self.close()
                raise ConnectionError("no reply from pollexd at %s within "
                                      "the timeout" % self.path) from None
            except OSError as e:
                self.close()
                raise ConnectionError("lost the connection to pollexd at "
                                      "%s: %s" % (self.path, e)) from None
            finally:
                if deadline is not None and self.sock is not None:
                    self.sock.settimeout(self.timeout)
            if not data:
                self.close()
                raise ConnectionError(
                    "pollexd closed the connection" +
                    (" in the middle of a reply" if self._dec.partial
                     else ""))
            try:
                self._pending.extend(self._dec.feed(data))
            except ProtocolError:
                self.close()
                raise
        return self._pending.pop(0)

    def call(self, method, parameters=None):
        """One call, one reply: its parameters, or raise its error."""
        self.send(method, parameters)
        params, continues, err = self.recv()
        if err is not None:
            raise err
        if continues:
            self.close()
            raise ProtocolError("pollexd answered %s with more than one reply"
                                % method)
        return params

    def stream(self, method, parameters=None):
        """A call with "more": yields each reply's parameters."""
        self.send(method, parameters, more=True)
        while True:
            params, continues, err = self.recv()
            if err is not None:
                raise err
            yield params
            if not continues:
                return


class Client:
    """A blocking client of pollexd.

    ``socket`` is the socket's path; by default it is found as libpollex
    finds it: ``$POLLEX_SOCKET``, else the per-user socket
    (``$XDG_RUNTIME_DIR/pollex/pollex.sock``, else
    ``/tmp/pollex-UID/pollex.sock``) when one exists, else
    ``/run/pollex/pollex.sock``.  ``timeout`` bounds connecting and every
    wait for a reply (None: no bound; a Wait with its own ``timeout`` is
    given that much longer, one without waits as long as it takes, and so
    does a Cancel, which pollexd bounds with the cancel function's
    timeout).

    The connection is opened on the first call and reopened by the next
    call after it broke.  A Client may be shared by threads: calls are
    serialised.  Streams (``wait_iter``, ``watch``) use a connection of
    their own.
    """

    def __init__(self, socket=None, timeout=None):
        self.socket = _wire.resolve_socket(socket)
        self.timeout = timeout
        self._conn = None
        self._lock = threading.Lock()

    def __repr__(self):
        return "pollex.Client(%r)" % self.socket

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def connect(self):
        """Open the connection now (calls do it when needed)."""
        with self._lock:
            self._connection()

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = Connection(self.socket, self.timeout)
        return self._conn

    def call(self, method, parameters=None, timeout_extra=None):
        """Call any method (``"Stats"`` or ``"io.pollex.Stats"``, or
        another interface's by its full name) and return the reply's
        parameters as a dict.  ``timeout_extra`` (seconds) lengthens the
        client's timeout for this reply; math.inf lifts it."""
        with self._lock:
            conn = self._connection()
            if timeout_extra is not None and self.timeout is not None:
                conn.send(method, parameters)
                params, continues, err = conn.recv(
                    time.monotonic() + self.timeout + timeout_extra)
                if err is not None:
                    raise err
                if continues:
                    conn.close()
                    raise ProtocolError("pollexd answered %s with more "
                                        "than one reply" % method)
                return params
            return conn.call(method, parameters)

    # io.pollex

    def submit(self, poller, ref=None, args=None, *, labels=None,
               timeout=None, deadline=None, idempotency_key=None):
        """Submit one task; returns its id."""
        spec = _wire.task_spec(poller, ref, args, labels, timeout, deadline,
                               idempotency_key)
        return self.submit_many([spec]).ids[0]

    def submit_many(self, specs):
        """Submit many tasks in one call, all or none.  Each spec is a dict
        of TaskSpec (``poller``, ``ref``, ``args``, ``labels``,
        ``timeout``, ``deadline``, ``idempotency_key``)."""
        specs = list(specs)
        r = SubmitResult.from_json(self.call("Submit", {"tasks": specs}))
        if len(r.ids) != len(specs):
            raise ProtocolError("Submit of %d tasks answered %d ids"
                                % (len(specs), len(r.ids)))
        return r

    def get(self, id):
        """One task (TaskNotFound if there is none the caller may see)."""
        return Task.from_json(self.call("Get", {"id": id}).get("task"))

    def cancel(self, id):
        """Ask pollexd to cancel a task.  The CancelResult is true only
        when the task was cancelled; a refusal is not an exception.  The
        reply waits for the poller's cancel function (bounded by the
        poller's own timeout in pollexd), not for the client's timeout."""
        return CancelResult.from_json(
            self.call("Cancel", {"id": id}, math.inf))

    def wait(self, ids, return_when=None, timeout=None):
        """Wait until the tasks finish, like concurrent.futures.wait
        (``return_when``: ``first_completed``, ``first_exception`` or
        ``all_completed``, the default; either spelling).  A timeout is
        not an error: the result says ``timed_out``."""
        if isinstance(ids, str):
            ids = [ids]
        p = _wire.wait_params(ids, return_when, timeout)
        return WaitResult.from_json(self.call(
            "Wait", p, math.inf if timeout is None else timeout))

    def wait_iter(self, ids, return_when=None, timeout=None):
        """A streamed Wait on a connection of its own: yields each Task as
        it finishes, tasks already finished first; ends when the condition
        is met or the timeout passed.  Closing the generator ends the
        call."""
        if isinstance(ids, str):
            ids = [ids]
        p = _wire.wait_params(ids, return_when, timeout)
        conn = Connection(self.socket, None)
        try:
            for params in conn.stream("Wait", p):
                for t in WaitResult.from_json(params).done:
                    yield t
        finally:
            conn.close()

    def list(self, states=None, poller=None, labels=None, owner=None,
             after=None, limit=None):
        """One page of tasks (see Page.next)."""
        return Page.from_json(self.call("List", _wire.list_params(
            states, poller, labels, owner, after, limit)))

    def iter_tasks(self, states=None, poller=None, labels=None, owner=None,
                   page_size=1000):
        """Every matching task, page after page."""
        after = None
        while True:
            page = self.list(states, poller, labels, owner, after, page_size)
            yield from page.tasks
            if not page.next:
                return
            after = page.next

    def watch(self, ids=None, poller=None, labels=None, initial=False):
        """Task events (an endless generator of Event) on a connection of
        its own; the first event is ``ready`` (after the ``current``
        ones with ``initial``).  Close the generator to stop."""
        conn = Connection(self.socket, None)
        try:
            for params in conn.stream("Watch", _wire.watch_params(
                    ids, poller, labels, initial)):
                yield Event.from_json(params)
        finally:
            conn.close()

    def pollers(self):
        """The configured pollers."""
        ps = self.call("Pollers").get("pollers")
        if not isinstance(ps, list):
            raise ProtocolError("Pollers answered without a list of pollers")
        return [Poller.from_json(p) for p in ps]

    def stats(self):
        return Stats.from_json(self.call("Stats"))

    # org.varlink.service

    def get_info(self):
        return ServiceInfo.from_json(
            self.call("org.varlink.service.GetInfo"))

    def get_interface_description(self, interface=_wire.INTERFACE):
        d = self.call("org.varlink.service.GetInterfaceDescription",
                      {"interface": interface}).get("description")
        if not isinstance(d, str):
            raise ProtocolError("GetInterfaceDescription answered without "
                                "a description")
        return d
