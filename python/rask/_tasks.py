"""Small functions that Rask's own tasks call (importable by workers too)."""


def identity(x):
    """Returns its argument (a list, tuple or dict rebuilt with computed values)."""
    return x


def call(f, *args, **kwargs):
    """Calls a computed function (``delayed_obj(*args)``)."""
    return f(*args, **kwargs)


def getattr(obj, name):  # noqa: A001 (shadows the builtin on purpose: the task's name)
    """Reads an attribute of a computed value (``delayed_obj.attr``)."""
    import builtins

    return builtins.getattr(obj, name)
