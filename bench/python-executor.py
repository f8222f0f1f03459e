#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""python-executor: 10,000 futures from one Python process through the
http-batch "publish" poller (PollExecutor's example), with the real
pollexd and the HTTP test service of this build tree.  Prints the
client's CPU time (user + system, every thread of the process) and the
wall time from the first submit to the last result, for three ways of
submitting: one submit() per future, submit_many() in one call, and the
asyncio client.

    bench/python-executor.py [N]        # from the top of a built tree
    BENCH_MODES=many,aio bench/python-executor.py

Figures: docs/benchmarks.md.
"""

import asyncio
import concurrent.futures as cf
import os
import resource
import sys
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(top, "python"), os.path.join(top, "tests",
                                                          "python")]
os.environ.setdefault("POLLEXD", os.path.join(top, "daemon", "pollexd"))
os.environ.setdefault("TESTSERVICE", os.path.join(top, "tests",
                                                  "testservice"))

import pollex          # noqa: E402
import pollex.aio      # noqa: E402
import pxharness       # noqa: E402


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(name, fn):
    c0, w0 = cpu(), time.monotonic()
    n, extra = fn()
    print("%-28s %6d futures  client CPU %6.2f s  wall %6.2f s  %s"
          % (name, n, cpu() - c0, time.monotonic() - w0, extra))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    svc = pxharness.TestService()
    d = pxharness.Daemon(pxharness.config(svc.url))
    d.start()
    args = [{"object": "obj-%d" % i, "duration_ms": 1000} for i in range(n)]
    try:
        def one_by_one():
            with pollex.Executor("publish", d.socket) as ex:
                fs = [ex.submit(a) for a in args]
                ok = sum(1 for f in cf.as_completed(fs, timeout=600)
                         if f.result()["object"])
                return ok, "(%d Wait calls)" % ex.wait_connections

        def many():
            with pollex.Executor("publish", d.socket) as ex:
                fs = ex.submit_many({"args": a} for a in args)
                ok = sum(1 for f in cf.as_completed(fs, timeout=600)
                         if f.result()["object"])
                return ok, "(%d Wait calls)" % ex.wait_connections

        def aio():
            async def go():
                async with pollex.aio.Client(d.socket) as c:
                    hs = await c.submit_many({"poller": "publish",
                                              "args": a} for a in args)
                    res = await asyncio.gather(*hs)
                    return (sum(1 for r in res if r["object"]),
                            "(%d Wait calls)" % c.wait_connections)
            return asyncio.run(go())

        modes = os.environ.get("BENCH_MODES", "one,many,aio").split(",")
        if "one" in modes:
            run("Executor.submit() x N", one_by_one)
        if "many" in modes:
            run("Executor.submit_many()", many)
        if "aio" in modes:
            run("aio submit_many + gather", aio)
    finally:
        d.stop()
        d.cleanup()
        svc.stop()


if __name__ == "__main__":
    main()
