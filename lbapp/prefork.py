"""Becoming a daemon in a process forked from a preloaded interpreter, as ``python -m MODULE``
would start it: the lab's forkserver and the LB node agent's zygote both start Python daemons
this way, so that each start costs a fork instead of a new interpreter importing everything
(0.3-1.3 s of CPU each)."""
from __future__ import annotations

import os
import random
import runpy
import signal
import sys
import traceback


def become(module: str, args: list[str], log: str | None, env: dict[str, str], cwd: str | None = None) -> int:
    """In the forked child: stdin from /dev/null, stdout and stderr appended to ``log``, the
    environment updated, then run ``module`` as ``__main__``. Returns its exit code (the caller
    flushes and ``os._exit``s with it)."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):    # as a new interpreter has them
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if log is not None:
        out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    random.seed()       # forked children would otherwise share one sequence
    sys.argv = [module, *args]
    # a plain module runs afresh as __main__, as `python -m` runs it (its imports stay loaded);
    # a package stays: its __main__ runs, which nothing imported
    preloaded = sys.modules.get(module)
    if preloaded is not None and not hasattr(preloaded, "__path__"):
        del sys.modules[module]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - what python -m would print, then a failed exit
        traceback.print_exc()
        return 1
    return 0


def python_module(argv: list[str]) -> tuple[str, list[str]] | None:
    """(module, args) when ``argv`` is this interpreter running ``-m module``, else None."""
    if len(argv) >= 3 and argv[1] == "-m" and os.path.realpath(argv[0]) == os.path.realpath(sys.executable):
        return argv[2], argv[3:]
    return None
