"""gunicorn config for ``bench/serving.py --cprofile`` (run with ``--threads 1``): each request's handling in the
worker — gunicorn's parsing and writing, the WSGI application — runs under one cProfile, whose stats the worker
writes to ``$VBQ_BENCH_PROFILE_DIR/worker-<pid>.prof`` when it stops. (cProfile follows one thread: the
profiler is switched on around each ``handle`` call of the worker's single request thread.) The clock is the
thread's CPU time, not wall time: on a shared machine, waiting for a core would otherwise show up in whatever
system call the thread was in (``sendall``)."""

import cProfile
import os
import time


def post_fork(server, worker):
    profile = cProfile.Profile(time.thread_time)
    handle = worker.handle

    def profiled_handle(*args, **kwargs):
        profile.enable()
        try:
            return handle(*args, **kwargs)
        finally:
            profile.disable()

    worker.handle = profiled_handle
    worker._vbq_profile = profile


def worker_exit(server, worker):
    profile = getattr(worker, "_vbq_profile", None)
    if profile is not None:
        profile.dump_stats(os.path.join(os.environ["VBQ_BENCH_PROFILE_DIR"], f"worker-{worker.pid}.prof"))
