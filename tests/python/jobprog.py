#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# jobprog.py: the exec poller ("job") of the Python client's tests; one
# program for start, poll and cancel (POLLEX_OPERATION says which).
#
# args: {"seconds": S, "fail": bool, "veto": bool, "value": any}
# start: the ref {"job": ID, "due": NOW+S, ...args}
# poll: succeeded with {"value": value, "job": ID} once due, or failed
#       with code "job_failed" when "fail" is set; pending with a delay
#       until the soonest due otherwise.
# cancel: refuses (exit 1, reason on stdout) when "veto" is set.
import json
import os
import sys
import time

req = json.loads(sys.stdin.read())
op = os.environ.get("POLLEX_OPERATION", req.get("operation"))
now = time.time()
if op == "start":
    args = req.get("args") or {}
    ref = dict(args)
    ref["job"] = req["id"]
    ref["due"] = now + float(args.get("seconds", 0))
    print(json.dumps(ref))
elif op == "poll":
    out = []
    left = []
    for t in req["tasks"]:
        ref = t["ref"]
        due = ref.get("due", t["created"] + float(ref.get("seconds", 0)))
        if due > now:
            left.append(due - now)
            out.append({"id": t["id"], "state": "pending"})
        elif ref.get("fail"):
            out.append({"id": t["id"], "state": "failed",
                        "error": {"code": "job_failed",
                                  "message": "job %s failed" % t["id"],
                                  "details": {"value": ref.get("value")}}})
        else:
            out.append({"id": t["id"], "state": "succeeded",
                        "result": {"value": ref.get("value"),
                                   "job": t["id"]}})
    res = {"tasks": out}
    if left:
        res["delay"] = max(min(left), 0.05)
    print(json.dumps(res))
elif op == "cancel":
    if req.get("ref", {}).get("veto"):
        print("this job refuses to be cancelled")
        sys.exit(1)
else:
    sys.stderr.write("unknown operation %r\n" % op)
    sys.exit(2)
