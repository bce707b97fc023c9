"""Worker processes: how they start, and how they find a function by name.

A worker is this interpreter started again (``command``) with the parent's
``sys.path``; ``main`` hands the process to Rask's worker loop, which calls
Python functions by importable name, ``module:qualname``, resolved here.
Nothing else can make a worker run code: a name that does not import, or
does not name a callable, is an error of that task.

Functions of the parent's ``__main__`` script resolve as
``multiprocessing`` does it: the worker runs the script under another
module name (so an ``if __name__ == "__main__":`` block does not run) and
takes the function from there.
"""
import importlib
import os
import sys

#: The parent's main script, for functions defined in ``__main__``.
MAIN_PATH = None
_IN_WORKER = False
_main_module = None


def _main_file():
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


def command():
    """``(program, args)`` that start a worker process of this interpreter."""
    boot = (
        "import sys; sys.path[:] = {path!r}; "
        "import rask._worker as w; w.main({main!r})"
    ).format(path=list(sys.path), main=_main_file())
    return sys.executable, ["-c", boot]


def main(main_path=None):
    """Serves tasks in a worker process; never returns there."""
    global MAIN_PATH, _IN_WORKER
    MAIN_PATH = main_path
    _IN_WORKER = True
    from rask import _rask

    _rask.init()
    sys.stderr.write("rask._worker: not started as a worker (run rask.worker ADDRESS to join a cluster)\n")
    sys.exit(2)


def _load_main():
    global _main_module
    if _main_module is None:
        if MAIN_PATH is None:
            raise ImportError("rask: the function is in __main__, and the parent has no main script")
        import runpy
        import types

        ns = runpy.run_path(MAIN_PATH, run_name="__rask_main__")
        mod = types.ModuleType("__rask_main__")
        mod.__dict__.update(ns)
        sys.modules["__rask_main__"] = mod
        _main_module = mod
    return _main_module


def _unwrap(obj):
    from rask._rask import DelayedFunction

    if isinstance(obj, DelayedFunction):
        return obj.__wrapped__
    return obj


def resolve(name):
    """The callable named ``module:qualname``."""
    if not isinstance(name, str) or ":" not in name:
        raise ValueError(f"rask: a function name is `module:function`, not {name!r}")
    module, qualname = name.split(":", 1)
    if module == "__main__":
        # In a worker, the parent's script; in the parent, its own main module.
        obj = _load_main() if _IN_WORKER else sys.modules["__main__"]
    else:
        obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj = _unwrap(obj)
    if not callable(obj):
        raise TypeError(f"rask: `{name}` is not callable")
    return obj


def name_of(func):
    """The name ``module:qualname`` that workers import ``func`` by; a
    TypeError saying why if they cannot."""
    func = _unwrap(func)
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    why = None
    if not isinstance(module, str) or not isinstance(qualname, str):
        why = "it has no module and qualified name"
    elif "<lambda>" in qualname:
        why = "it is a lambda"
    elif "<locals>" in qualname:
        why = "it is defined inside a function"
    elif module == "__main__" and _main_file() is None:
        why = "it is defined in an interactive session"
    if why is None:
        name = f"{module}:{qualname}"
        try:
            found = resolve(name)
        except Exception as e:  # noqa: BLE001 (any failure means: not importable)
            why = f"`{name}` does not import here ({type(e).__name__}: {e})"
        else:
            if found is not func:
                why = f"`{name}` names another object"
    if why is not None:
        shown = qualname if isinstance(qualname, str) else repr(func)
        raise TypeError(
            f"rask: function `{shown}` cannot run in a worker process: {why}; workers import "
            "functions by name (define it at the top level of a module, or pass "
            "\"module:function\"), no code is ever sent"
        )
    return name

