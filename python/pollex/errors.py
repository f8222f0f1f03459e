# SPDX-License-Identifier: ISC
"""Exceptions of the pollex client.

Three families, so that callers can tell them apart:

- :class:`Error` is the base of everything this package raises.
- :class:`ConnectionError` (also a builtin ``ConnectionError``): the daemon
  could not be reached, went away, or spoke something that is not the
  protocol (:class:`ProtocolError`).
- :class:`VarlinkError` and one subclass per error of the io.pollex and
  org.varlink.service interfaces: the daemon refused a call.
- :class:`TaskFailed` and :class:`TaskExpired`: a task ended badly.  These
  are outcomes of remote work, not of the call that reported them.
"""

import builtins

__all__ = [
    "Error", "ConnectionError", "ProtocolError", "VarlinkError",
    "TaskNotFound", "PollerNotFound", "QuotaExceeded", "IdempotencyConflict",
    "ShuttingDown", "InvalidMessage", "MessageTooLarge", "TooManyConnections",
    "StoreFailed", "MethodNotFound", "InterfaceNotFound", "InvalidParameter",
    "ExpectedMore", "MethodNotImplemented", "TaskFailed", "TaskExpired",
    "error_from_reply",
]


class Error(Exception):
    """Base class of every exception of the pollex package."""


class ConnectionError(Error, builtins.ConnectionError):
    """pollexd cannot be reached or the connection broke."""


class ProtocolError(ConnectionError):
    """pollexd (or whatever is on the socket) sent something that is not a
    varlink reply: the connection is closed, since the stream cannot be
    trusted any more."""


class VarlinkError(Error):
    """The daemon answered a call with a varlink error.

    ``name`` is the fully qualified error name (``io.pollex.TaskNotFound``),
    ``parameters`` the error's parameters as a dict.
    """

    name = None  # set on each subclass; an unknown error keeps its own

    def __init__(self, name=None, parameters=None):
        if name is not None:
            self.name = name
        self.parameters = dict(parameters or {})
        super().__init__(self._describe())

    def _describe(self):
        if not self.parameters:
            return self.name
        args = ", ".join("%s=%r" % kv for kv in sorted(self.parameters.items()))
        return "%s (%s)" % (self.name, args)

    def __reduce__(self):
        return (type(self), (self.name, self.parameters))


def _varlink_error(name, doc, fields=()):
    short = name.rsplit(".", 1)[1]

    def __init__(self, name=name, parameters=None, **kw):
        params = dict(parameters or {})
        params.update(kw)
        VarlinkError.__init__(self, name, params)

    ns = {"__doc__": doc, "name": name, "__init__": __init__}
    for f in fields:
        ns[f] = property(lambda self, f=f: self.parameters.get(f),
                         doc="The error's %r parameter." % f)
    cls = type(short, (VarlinkError,), ns)
    cls.__module__ = __name__
    return cls


TaskNotFound = _varlink_error(
    "io.pollex.TaskNotFound",
    "No task with this id, or not one the caller may see (``id``).", ("id",))
PollerNotFound = _varlink_error(
    "io.pollex.PollerNotFound", "No such poller (``poller``).", ("poller",))
QuotaExceeded = _varlink_error(
    "io.pollex.QuotaExceeded",
    "A quota (``quota``, ``limit``) would be exceeded.", ("quota", "limit"))
IdempotencyConflict = _varlink_error(
    "io.pollex.IdempotencyConflict",
    "The idempotency key belongs to a different task (``idempotency_key``, "
    "``id`` of the existing task).", ("idempotency_key", "id"))
ShuttingDown = _varlink_error(
    "io.pollex.ShuttingDown", "pollexd is stopping; the call was ended.")
InvalidMessage = _varlink_error(
    "io.pollex.InvalidMessage",
    "pollexd could not read the message (``reason``).", ("reason",))
MessageTooLarge = _varlink_error(
    "io.pollex.MessageTooLarge",
    "A message was over pollexd's size limit (``limit``).", ("limit",))
TooManyConnections = _varlink_error(
    "io.pollex.TooManyConnections",
    "pollexd refused the connection (``limit``).", ("limit",))
StoreFailed = _varlink_error(
    "io.pollex.StoreFailed",
    "pollexd could not write its task store (``reason``).", ("reason",))
MethodNotFound = _varlink_error(
    "org.varlink.service.MethodNotFound", "Unknown method (``method``).",
    ("method",))
InterfaceNotFound = _varlink_error(
    "org.varlink.service.InterfaceNotFound",
    "Unknown interface (``interface``).", ("interface",))
InvalidParameter = _varlink_error(
    "org.varlink.service.InvalidParameter",
    "A parameter was missing or wrong (``parameter``, ``reason``).",
    ("parameter", "reason"))
ExpectedMore = _varlink_error(
    "org.varlink.service.ExpectedMore",
    "The method needs a call with ``more``.")
MethodNotImplemented = _varlink_error(
    "org.varlink.service.MethodNotImplemented",
    "The method is not implemented (``method``).", ("method",))

_BY_NAME = {c.name: c for c in (
    TaskNotFound, PollerNotFound, QuotaExceeded, IdempotencyConflict,
    ShuttingDown, InvalidMessage, MessageTooLarge, TooManyConnections,
    StoreFailed, MethodNotFound, InterfaceNotFound, InvalidParameter,
    ExpectedMore, MethodNotImplemented)}


def error_from_reply(name, parameters):
    """The exception for a varlink error reply."""
    cls = _BY_NAME.get(name)
    if cls is None:
        return VarlinkError(name, parameters)
    return cls(name, parameters)


class TaskFailed(Error):
    """A task ended in state ``failed`` (or, through :class:`TaskExpired`,
    ``expired``).

    ``code``, ``message`` and ``details`` are the task's error as pollexd
    reports it; ``task`` is the whole :class:`pollex.Task` (or None).
    """

    def __init__(self, code, message, details=None, task=None):
        self.code = code
        self.message = message
        self.details = details
        self.task = task
        super().__init__(code, message, details)

    def __str__(self):
        tid = " (task %s)" % self.task.id if self.task is not None else ""
        return "%s: %s%s" % (self.code, self.message, tid)

    def __reduce__(self):
        return (type(self), (self.code, self.message, self.details, self.task))


class TaskExpired(TaskFailed):
    """A task reached its deadline before it finished (state ``expired``).
    A subclass of :class:`TaskFailed`: ``except TaskFailed`` sees both."""
