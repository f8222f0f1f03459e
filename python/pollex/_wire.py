# SPDX-License-Identifier: ISC
"""The varlink framing pollexd speaks (docs/protocol.md): one JSON object
per message, each followed by a NUL byte.  Shared by the blocking client,
the executor and the asyncio client."""

import json
import json.scanner
import os
import stat

from .errors import (ProtocolError, ShuttingDown, TaskNotFound,
                     error_from_reply)
from .types import TERMINAL_STATES

INTERFACE = "io.pollex"

#: Where the system service listens (pollexd built with --runstatedir=/run,
#: as the Debian package is).
SYSTEM_SOCKET = "/run/pollex/pollex.sock"

#: Largest reply the client accepts (pollexd's own default message limit is
#: 8 MiB; a Wait or List reply may be bigger than a call).
MAX_MESSAGE = 256 * 1024 * 1024


def user_socket(uid=None):
    """The per-user socket: $XDG_RUNTIME_DIR/pollex/pollex.sock when
    XDG_RUNTIME_DIR is an absolute path, else /tmp/pollex-UID/pollex.sock."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/"):
        return os.path.join(xdg, "pollex", "pollex.sock")
    if uid is None:
        uid = os.geteuid()
    return "/tmp/pollex-%d/pollex.sock" % uid


def default_socket():
    """The socket path libpollex and pollexctl use when given none:
    $POLLEX_SOCKET when set and not empty; else the per-user socket when a
    socket exists there; else the system socket."""
    env = os.environ.get("POLLEX_SOCKET")
    if env:
        return env
    path = user_socket()
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            return path
    except OSError:
        pass
    return SYSTEM_SOCKET


def resolve_socket(socket):
    if socket is None:
        return default_socket()
    socket = os.fspath(socket)
    if socket == "":
        raise ValueError("the socket path is empty")
    return socket


def encode_call(method, parameters=None, more=False, oneway=False):
    if "." not in method:
        method = INTERFACE + "." + method
    msg = {"method": method}
    if parameters:
        msg["parameters"] = parameters
    if more:
        msg["more"] = True
    if oneway:
        msg["oneway"] = True
    try:
        data = json.dumps(msg, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except ValueError as e:
        # NaN and the infinities cannot be spelt in JSON.
        raise ValueError("cannot send %s: %s" % (method, e)) from None
    return data.encode("utf-8") + b"\0"


class Decoder:
    """Splits a byte stream into messages; feed() returns the complete
    ones, decoded."""

    def __init__(self, limit=MAX_MESSAGE):
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data):
        buf = self._buf
        buf += data
        end = buf.rfind(b"\0")
        if end < 0:
            if len(buf) > self._limit:
                raise ProtocolError("pollexd sent a message over %d bytes"
                                    % self._limit)
            return []
        try:
            text = buf[:end].decode("utf-8")
        except UnicodeDecodeError:
            text = bytes(buf[:end])
        del buf[:end + 1]
        if len(buf) > self._limit:
            raise ProtocolError("pollexd sent a message over %d bytes"
                                % self._limit)
        if type(text) is bytes:
            return [decode_message(raw) for raw in text.split(b"\0")]
        return decode_messages(text)

    @property
    def partial(self):
        """True while part of a message is buffered."""
        return bool(self._buf)


#: The json module's scanner (its C one when there is one): scan(s, i) is
#: the JSON value at s[i:] and where it ends.
_scan = json.scanner.make_scanner(json.JSONDecoder())


def decode_messages(text):
    """The NUL-separated messages of text (a str: complete messages
    without the last NUL, decoded from UTF-8) as decode_message() decodes
    each.

    The fast path scans each message where it is in text with the json
    module's scanner, as json.loads() does for a message with no
    whitespace around it: a message is taken when the scan ends at the
    NUL after it (or the end of text; the scanner cannot go past a NUL:
    no JSON value holds a raw one) and it is a plain reply.  Anything
    else (a message that does not scan to its end, an error reply, one
    that is not an object) goes through decode_message(), so the results
    and errors are those of decoding one message at a time."""
    scan = _scan
    out = []
    append = out.append
    n = len(text)
    i = 0
    while True:
        try:
            msg, e = scan(text, i)
        except (StopIteration, ValueError, RecursionError):
            e = -1
        if e >= 0 and (e == n or text[e] == "\0") and type(msg) is dict:
            params = msg.get("parameters")
            if type(params) is dict and msg.get("error") is None:
                append((params, bool(msg.get("continues")), None))
            else:
                append(decode_message(text[i:e].encode("utf-8")))
        else:
            e = text.find("\0", i)
            if e < 0:
                e = n
            append(decode_message(text[i:e].encode("utf-8")))
        if e >= n:
            return out
        i = e + 1


def _snippet(raw):
    s = raw[:80].decode("utf-8", "replace")
    return repr(s) + ("..." if len(raw) > 80 else "")


def decode_message(raw):
    """A reply as (parameters, continues, error or None)."""
    try:
        msg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError("the reply from pollexd is not valid JSON (%s): %s"
                            % (e, _snippet(raw))) from None
    return _check_message(msg, raw)


def _check_message(msg, raw):
    if not isinstance(msg, dict):
        raise ProtocolError("the reply from pollexd is not a JSON object: %s"
                            % _snippet(raw))
    params = msg.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("the reply's parameters are not an object: %s"
                            % _snippet(raw))
    err = msg.get("error")
    if err is not None:
        if not isinstance(err, str) or not err:
            raise ProtocolError("the reply's error is not a name: %s"
                                % _snippet(raw))
        return params, False, error_from_reply(err, params)
    if "parameters" not in msg:
        raise ProtocolError("the message from pollexd is not a varlink "
                            "reply (no parameters, no error): %s"
                            % _snippet(raw))
    return params, bool(msg.get("continues")), None


def replace_delay(restart_gap, waiting, new, elapsed):
    """How long a streamed Wait of ``waiting`` ids, started ``elapsed``
    seconds ago, should still run before it is replaced by one that also
    has ``new`` ids: at once when the new ids are at least as many as the
    old (so a growing set is sent O(n) ids in total, not O(n^2)), else
    after ``restart_gap`` plus 20 microseconds per id waited for (a
    second for 50,000), which lets a stream of single submits share
    replacements.  A new task is polled no sooner than the poller's
    coalesce window anyway."""
    if new >= waiting:
        return 0.0
    return restart_gap + waiting * 20e-6 - elapsed


def wait_params(ids, return_when=None, timeout=None):
    p = {"ids": list(ids)}
    if return_when is not None:
        rw = str(return_when).lower()
        if rw not in ("first_completed", "first_exception", "all_completed"):
            raise ValueError("return_when must be first_completed, "
                             "first_exception or all_completed, not %r"
                             % (return_when,))
        p["return_when"] = rw
    if timeout is not None:
        p["timeout"] = float(timeout)
    return p


def task_spec(poller, ref=None, args=None, labels=None, timeout=None,
              deadline=None, idempotency_key=None):
    spec = {"poller": poller}
    if ref is not None:
        spec["ref"] = ref
    if args is not None:
        spec["args"] = args
    if labels is not None:
        spec["labels"] = dict(labels)
    if timeout is not None:
        spec["timeout"] = float(timeout)
    if deadline is not None:
        spec["deadline"] = float(deadline)
    if idempotency_key is not None:
        spec["idempotency_key"] = idempotency_key
    return spec


def watch_params(ids=None, poller=None, labels=None, initial=None):
    p = {}
    if ids is not None:
        p["ids"] = list(ids)
    if poller is not None:
        p["poller"] = poller
    if labels is not None:
        p["labels"] = dict(labels)
    if initial is not None:
        p["initial"] = bool(initial)
    return p


def list_params(states=None, poller=None, labels=None, owner=None,
                after=None, limit=None):
    p = {}
    if states is not None:
        p["states"] = [states] if isinstance(states, str) else list(states)
    if poller is not None:
        p["poller"] = poller
    if labels is not None:
        p["labels"] = dict(labels)
    if owner is not None:
        p["owner"] = int(owner)
    if after is not None:
        p["after"] = after
    if limit is not None:
        p["limit"] = int(limit)
    return p


def wait_replies(msgs, call_ids, fail, resolve):
    """Handle the decoded replies of a streamed Wait on ids call_ids, as
    the Executor's thread and the asyncio client both do: finished tasks
    go to resolve(records), a list of what types.task_record() returns
    (a Task, or the task's dict when the Task can be built from it
    later: types.as_task()), in the order they came (once for all the
    replies of msgs, or before an error is handled); an error to
    fail(ids, error) for the ids it concerns (a TaskNotFound for one of
    them: that one; any other: all).

    Returns (err, drop, ended, good): err ends the connection (it is lost,
    pollexd stopping or a reply that is not a WaitResult); drop: the call
    failed, close the connection and start another; ended: the call
    ended (its last reply came); good: a good reply came (pollexd is
    there: the reconnection backoff starts again)."""
    from .types import WaitResult, task_record
    ended = good = False
    finished = []
    try:
        for params, continues, verr in msgs:
            if verr is not None:
                if finished:
                    resolve(finished)
                    finished = []
                if isinstance(verr, ShuttingDown):
                    return verr, False, ended, good
                if isinstance(verr, TaskNotFound) and verr.id in call_ids:
                    fail([verr.id], verr)
                else:
                    fail(call_ids, verr)
                return None, True, ended, good
            try:
                done = params.get("done")
                if type(done) is list and "timed_out" in params:
                    # What WaitResult.from_json() would check, without
                    # the WaitResult and (mostly) without the Tasks.
                    tasks = [task_record(t) for t in done]
                else:
                    tasks = WaitResult.from_json(params).done
            except ProtocolError as e:
                return e, False, ended, good
            good = True
            for t in tasks:
                if (t["state"] if type(t) is dict else t.state) \
                        in TERMINAL_STATES:
                    finished.append(t)
            if not continues:
                ended = True
    finally:
        if finished:
            resolve(finished)
    return None, False, ended, good
