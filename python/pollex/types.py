# SPDX-License-Identifier: ISC
"""Typed views of the io.pollex interface's types (common/io.pollex.varlink).

Every class has ``from_json()`` that takes the dict pollexd sent.  Members
a newer pollexd adds are kept in ``extra`` rather than refused, so an old
client keeps working with a new daemon.
"""

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

from .errors import ProtocolError

__all__ = [
    "TERMINAL_STATES", "TaskError", "Task", "TaskCounts", "PollerHttp",
    "Poller", "Stats", "SubmitResult", "CancelResult", "WaitResult", "Event",
    "Page", "ServiceInfo",
]

#: Task states after which nothing changes any more.
TERMINAL_STATES = frozenset(
    ("succeeded", "failed", "cancelled", "expired"))


_NAMES = {}


def _build(cls, d, what, nested=None):
    if not isinstance(d, dict):
        raise ProtocolError("pollexd sent %s that is not an object: %r"
                            % (what, d))
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls)) - {"extra"}
    kw = {}
    extra = {}
    for k, v in d.items():
        if k in names:
            conv = (nested or {}).get(k)
            kw[k] = conv(v) if conv is not None and v is not None else v
        else:
            extra[k] = v
    try:
        obj = cls(**kw)
    except TypeError as e:
        raise ProtocolError("pollexd sent %s without a required member: %s"
                            % (what, e)) from None
    obj.extra = extra
    return obj


@dataclass
class TaskError:
    """The error of a failed, expired or cancelled task."""
    code: str
    message: str
    details: Optional[Any] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a task error")


@dataclass
class Task:
    """A task as pollexd reports it (``io.pollex.Task``)."""
    id: str
    poller: str
    state: str
    owner: int
    created: float
    updated: float
    polls: int
    poll_failures: int
    ref: Optional[Any] = None
    args: Optional[Any] = None
    labels: Optional[Dict[str, str]] = None
    idempotency_key: Optional[str] = None
    deadline: Optional[float] = None
    finished: Optional[float] = None
    progress: Optional[float] = None
    result: Optional[Any] = None
    error: Optional[TaskError] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        t = None
        if isinstance(d, dict) and "extra" not in d:
            try:
                t = cls(**d)    # the common case: every member known
            except TypeError:
                pass
            else:
                if t.error is not None:
                    t.error = TaskError.from_json(t.error)
        if t is None:
            t = _build(cls, d, "a task", {"error": TaskError.from_json})
        if not isinstance(t.id, str) or not isinstance(t.state, str):
            raise ProtocolError("pollexd sent a task with a bad id or state: "
                                "%r" % (d,))
        return t

    @property
    def done(self):
        """True once the task reached a terminal state."""
        return self.state in TERMINAL_STATES

    def outcome(self):
        """The task's result, or raise what its end means: TaskFailed,
        TaskExpired, or concurrent.futures.CancelledError.  A task that
        is not finished raises ValueError."""
        from concurrent.futures import CancelledError
        from .errors import TaskExpired, TaskFailed
        if self.state == "succeeded":
            return self.result
        err = self.error or TaskError(self.state, "the task " + self.state)
        if self.state == "failed":
            raise TaskFailed(err.code, err.message, err.details, self)
        if self.state == "expired":
            raise TaskExpired(err.code, err.message, err.details, self)
        if self.state == "cancelled":
            raise CancelledError("task %s was cancelled: %s"
                                 % (self.id, err.message))
        raise ValueError("task %s is %s, not finished" % (self.id, self.state))


_TASK_REQUIRED = frozenset(("id", "poller", "state", "owner", "created",
                            "updated", "polls", "poll_failures"))
_TASK_MEMBERS = frozenset(f.name for f in fields(Task)) - {"extra"}


def task_record(d):
    """d itself when it is a task that Task(**d) builds just as
    Task.from_json(d) would (every required member, no unknown one, a
    string id and state, no error); else Task.from_json(d), which raises
    ProtocolError for a task that is not one.  For the hot path of Wait
    replies: the Task is built only when someone asks for it
    (as_task())."""
    if (type(d) is dict and d.keys() >= _TASK_REQUIRED and
            d.keys() <= _TASK_MEMBERS and type(d["id"]) is str and
            type(d["state"]) is str and d.get("error") is None):
        return d
    return Task.from_json(d)


def as_task(rec):
    """The Task of what task_record() returned."""
    return Task(**rec) if type(rec) is dict else rec


@dataclass
class TaskCounts:
    starting: int
    pending: int
    succeeded: int
    failed: int
    cancelled: int
    expired: int
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "task counts")


@dataclass
class PollerHttp:
    requests: int
    retries: int
    failures: int
    connects: int
    in_flight: int
    queued: int
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "HTTP counters")


@dataclass
class Poller:
    """A configured poller and its scheduler (``io.pollex.Poller``)."""
    name: str
    kind: str
    removed: bool
    state: str
    outstanding: int
    starting: int
    in_flight: int
    interval: float
    min_interval: float
    max_interval: float
    max_batch: int
    max_inflight: int
    fail_after: int
    has_start: bool
    has_cancel: bool
    polls: int
    failed_polls: int
    consecutive_failures: int
    next_poll: Optional[float] = None
    last_error: Optional[str] = None
    http: Optional[PollerHttp] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a poller", {"http": PollerHttp.from_json})


@dataclass
class Stats:
    """The daemon's counters (``io.pollex.Stats``)."""
    version: str
    started: float
    uptime: float
    tasks: TaskCounts
    submitted: int
    completed: int
    polls: int
    failed_polls: int
    connections: int
    calls: int
    client_bytes: Optional[int] = None
    pending_calls: Optional[int] = None
    clients_dropped: Optional[int] = None
    accepts_paused: Optional[bool] = None
    accept_pauses: Optional[int] = None
    fd_limit: Optional[int] = None
    store: Optional[Dict[str, Any]] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "stats", {"tasks": TaskCounts.from_json})


@dataclass
class SubmitResult:
    """What Submit answered: ``ids[i]`` belongs to the i-th spec;
    ``created[i]`` is False when an existing task came back."""
    ids: List[str]
    created: List[bool]
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a Submit reply")


@dataclass
class CancelResult:
    """What Cancel answered.  ``cancelled`` is True only when the task was
    cancelled; ``reason`` says why not (a refusal, a failed cancel
    function, a task already finished)."""
    cancelled: bool
    state: str
    reason: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    def __bool__(self):
        return bool(self.cancelled)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a Cancel reply")


@dataclass
class WaitResult:
    """What Wait answered: finished tasks, the ids still outstanding."""
    done: List[Task]
    timed_out: bool
    not_done: Optional[List[str]] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a Wait reply",
                      {"done": lambda l: [Task.from_json(t) for t in l]})


@dataclass
class Event:
    """One event of a Watch: ``current``, ``ready``, ``created``,
    ``updated`` or ``purged``."""
    event: str
    id: Optional[str] = None
    task: Optional[Task] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        e = _build(cls, d, "a Watch event", {"task": Task.from_json})
        if e.id is None and e.task is not None:
            e.id = e.task.id
        return e


@dataclass
class Page:
    """One page of List: pass ``next`` as ``after`` for the following one."""
    tasks: List[Task]
    next: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a List reply",
                      {"tasks": lambda l: [Task.from_json(t) for t in l]})


@dataclass
class ServiceInfo:
    """org.varlink.service.GetInfo."""
    vendor: str
    product: str
    version: str
    url: str
    interfaces: List[str]
    extra: Dict[str, Any] = field(default_factory=dict, repr=False,
                                  compare=False)

    @classmethod
    def from_json(cls, d):
        return _build(cls, d, "a GetInfo reply")
