"""The judge: runs one notebook's cells in a plain Python process inside the sandbox and reports each
test's verdict. It is started as `python -I -B -c <this file's text>` (see judge.py); it imports
nothing from coursekit, since the sandbox does not hold it.

The job arrives whole on stdin (JSON: the cells in notebook order, each "given", "student" or
"test", and a random token) and stdin is closed before any notebook code runs, so student code can
never read a test's source from the grader. Records leave on a pipe of the grader's (job["channel"]) as JSON lines that
carry the token; the token lives only in this process's memory, which student code could reach
only through the gc, frames, ctypes or /proc/self/mem, and the audit hook below refuses those.

Before each test: the modules, classes and interpreter settings the process had before student code
ran are restored, trace and profile functions cleared, names the instructor's cells bound are bound
again, builtins shadowed by student names are unshadowed, and the test runs in a fresh copy of the
namespace with checking helpers (see judge_rewrite.py) that refuse non-plain values in comparisons.
After the test the same state is checked again: a change made while the test ran fails the test.
"""


def _judge():  # everything lives in this function's locals, out of reach of the notebook's code
    import builtins
    import gc
    import io
    import json
    import os
    import select
    import signal
    import sys
    import types
    import warnings

    import numpy
    import numpy.testing

    job = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    main = types.ModuleType("__main__")
    namespace = main.__dict__
    namespace["display"] = lambda *objects, **_: print(*objects)
    sys.modules["__main__"] = main
    sys.path.insert(0, job["view"])  # the part of tinytorch_lite this notebook may import
    for name in job["preload"]:
        try:
            __import__(name)
        except Exception:  # a module of the package view that cannot be imported alone is skipped
            pass
    token, limit, channel = job["token"], job["output_bytes"], job["channel"]
    write, dumps, isinstance_, type_, id_, len_, list_, dict_ = (
        os.write, json.dumps, isinstance, type, id, len, list, dict)
    str_, repr_, BaseException_, getattr_, hasattr_ = str, repr, BaseException, getattr, hasattr
    issubclass_, all_, map_ = issubclass, all, map
    from operator import is_
    ModuleType, FunctionType = types.ModuleType, types.FunctionType
    type_dict = type.__dict__["__dict__"].__get__
    type_mro = type.__dict__["__mro__"].__get__

    def send(record):
        record["token"] = token
        data = (dumps(record) + "\n").encode()
        while data:
            data = data[write(channel, data):]

    ack, select_, read = job["ack"], select.select, os.read

    def finish(record):
        """Report a cell, then wait until the grader has stopped what the cell left running, so that it
        never stops processes of the next cell."""
        send(record)
        try:
            if select_((ack,), (), (), 30)[0]:
                read(ack, 1)
        except OSError:
            pass

    # -- the state to restore: what the process held before any notebook code ran -------------------
    modules: dict = {}  # name -> (module, copy of its dict)
    classes: dict = {}  # id -> (class, copy of its dict)
    plotting = {"matplotlib", "mpl_toolkits", "PIL", "pyparsing", "dateutil", "kiwisolver", "fontTools", "cycler",
                "contourpy", "packaging", "six"}  # what figures need, not tests: left out, for speed
    for name, module in list_(sys.modules.items()):
        if isinstance_(module, ModuleType) and name != "__main__" and name.split(".")[0] not in plotting:
            modules[name] = (module, dict_(module.__dict__))
            for value in list_(module.__dict__.values()):
                if isinstance_(value, type_) and id_(value) not in classes:
                    classes[id_(value)] = (value, dict_(type_dict(value)))
    pristine_types = frozenset(cls for cls, _ in classes.values())
    numpy_callables = {id_(v) for name, (m, d) in modules.items() if name.split(".")[0] == "numpy"
                       for v in d.values() if callable(v) and not isinstance_(v, type_)}
    comparisons = {id_(getattr_(numpy, name)) for name in (
        "allclose", "isclose", "array_equal", "array_equiv", "all", "any", "equal", "not_equal", "less",
        "less_equal", "greater", "greater_equal")}
    comparisons |= {id_(v) for v in vars(numpy.testing).values() if callable(v)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's interrupt is only for notebook code
    settings = {"recursion": sys.getrecursionlimit(), "switch": sys.getswitchinterval(),
                "err": numpy.geterr(), "print": numpy.get_printoptions(), "cwd": os.getcwd(),
                "warnings": list_(warnings.filters), "meta_path": list_(sys.meta_path),
                "path_hooks": list_(sys.path_hooks), "path": list_(sys.path),
                "signals": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGALRM, signal.SIGTERM)},
                "gc_callbacks": list_(gc.callbacks)}
    builtins_dict = builtins.__dict__
    pristine_builtins = dict_(builtins_dict)
    behaviour = (FunctionType, types.BuiltinFunctionType, type_, ModuleType, types.MethodType,
                 numpy.ufunc)
    ignored_keys = frozenset({"__warningregistry__", "__loader__", "__abstractmethods__", "_abc_impl",
                              "__weakref__", "__doc__", "__annotations__"})

    def unchanged(target, saved):
        """The same keys and values, by identity, in the same order (at C speed: no __eq__ runs)."""
        return len_(target) == len_(saved) and all_(map_(is_, target, saved)) and \
            all_(map_(is_, target.values(), saved.values()))

    def restore_dict(target, saved, keep_new_modules, setter, deleter):
        """Put saved back into target. Returns the keys whose change replaced or added behaviour (a
        function, class or module): those are what tampering looks like; data is restored silently."""
        reported = []
        if unchanged(target, saved):
            return reported
        for key in list_(target.keys()):
            if key not in saved and key not in ignored_keys:
                value = target[key]
                if keep_new_modules and isinstance_(value, ModuleType):
                    saved[key] = value  # a submodule imported since: part of its package from now on
                    continue
                deleter(key)
                if isinstance_(value, behaviour):
                    reported.append(key)
        for key, value in saved.items():
            current = target.get(key, saved)
            if current is not value:
                setter(key, value)
                if key not in ignored_keys and (isinstance_(value, behaviour) or isinstance_(current, behaviour)):
                    reported.append(key)
        return reported

    def restore_state():
        """Undo every change to the remembered state; returns what had changed behaviour."""
        changed = [f"builtins.{k}" for k in restore_dict(builtins_dict, pristine_builtins, False,
                                                          builtins_dict.__setitem__, builtins_dict.__delitem__)]
        for name, (module, saved) in modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                changed.append(f"sys.modules[{name!r}]")
            namespace = module.__dict__
            changed += [f"{name}.{k}" for k in restore_dict(namespace, saved, True, namespace.__setitem__,
                                                             namespace.__delitem__)]
        for cls, saved in classes.values():
            current = type_dict(cls)
            if unchanged(current, saved):
                continue
            try:
                changed += [f"{cls.__module__}.{cls.__qualname__}.{k}" for k in restore_dict(
                    current, saved, False, lambda k, v: type.__setattr__(cls, k, v),
                    lambda k: type.__delattr__(cls, k))]
            except (TypeError, AttributeError):
                pass  # a built-in type: it cannot have changed
        for name in ("meta_path", "path_hooks", "path"):
            if getattr_(sys, name) != settings[name]:
                getattr_(sys, name)[:] = settings[name]
                changed.append(f"sys.{name}")
        if warnings.filters != settings["warnings"]:
            warnings.filters[:] = settings["warnings"]
            warnings._filters_mutated()
        gc.callbacks[:] = settings["gc_callbacks"]
        sys.settrace(None)
        sys.setprofile(None)
        sys.setrecursionlimit(settings["recursion"])
        sys.setswitchinterval(settings["switch"])
        numpy.seterr(**settings["err"])
        numpy.set_printoptions(**settings["print"])
        for number, handler in settings["signals"].items():
            signal.signal(number, handler)
        gc.enable()
        os.chdir(settings["cwd"])
        sys.displayhook, sys.excepthook = sys.__displayhook__, sys.__excepthook__
        return changed

    # -- what student code may not do (an audit hook cannot be removed) ------------------------------
    phase = ["judge"]  # "judge" while this code runs, "student" while notebook code runs
    forbidden = {"sys.settrace", "sys.setprofile", "sys.addaudithook", "sys._current_frames",
                 "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
                 "cpython.PyInterpreterState_New", "cpython._PySys_ClearAuditHooks",
                 "sys.monitoring.register_callback", "sys.setprofile_all_threads", "sys.settrace_all_threads"}
    during_tests = {"os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn", "subprocess.Popen",
                    "os.system"}
    blocked_modules = ("ctypes", "_ctypes", "cffi", "_testcapi", "_testinternalcapi", "_xxsubinterpreters")
    testing = [False]
    realpath, startswith, fsdecode, fspath = os.path.realpath, str.startswith, os.fsdecode, os.fspath
    from _thread import get_ident
    judge_thread = get_ident()

    def audit(event, args):
        """Refuse what no notebook code needs; a thread the notebook started is never the judge."""
        if phase[0] == "judge" and get_ident() == judge_thread:
            return
        if event in forbidden or startswith(event, "ctypes.") or (testing[0] and event in during_tests):
            raise RuntimeError(f"the grader does not allow {event} in submitted code")
        if event == "import" and startswith(str_(args[0]), blocked_modules):
            raise ImportError(f"the grader does not allow importing {args[0]} in submitted code")
        if event == "open" and not isinstance_(args[0], int):
            if type_(args[0]) not in pristine_types:  # a path type of the submission's could lie
                raise PermissionError("the grader opens only str, bytes and pathlib paths for submitted code")
            path = realpath(fsdecode(fspath(args[0])))  # raises no audited event itself
            if startswith(path, "/proc"):
                raise PermissionError(f"the grader does not allow opening {args[0]!r} in submitted code")

    sys.addaudithook(audit)

    # -- checks the rewritten test code calls (see judge_rewrite.py) ---------------------------------
    generic, dtype, ndarray = numpy.generic, numpy.dtype, numpy.ndarray
    identity_eq, identity_ne = object.__eq__, object.__ne__
    plain_leaves = (type(None), bool, int, float, complex, str, bytes, slice, range, type(...), generic, dtype)
    overrides = frozenset({
        "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__", "__contains__",
        "__iter__", "__getitem__", "__index__", "__int__", "__float__", "__getattribute__", "__getattr__",
        "__class__", "__hash__", "__abs__", "__sub__", "__rsub__", "mro", "__array_function__",
        "__array_ufunc__", "__array__", "__array_wrap__", "__array_finalize__", "__array_priority__",
        "__array_interface__", "__array_struct__", "__array_prepare__", "keys", "items", "values"})

    def base_of(cls):
        """The first class in cls's MRO that was there before notebook code ran, or None if a newer
        class on the way (or its metaclass) defines how it compares, converts or iterates."""
        meta = type_(cls)
        if meta not in pristine_types and base_of(meta) is None:
            return None
        for klass in type_mro(cls):
            if klass in pristine_types:
                return klass
            if not overrides.isdisjoint(type_dict(klass)):
                return None
        return None

    def plain(value, depth=0):
        """Plain data: numbers, strings, numpy scalars, dtypes and arrays, classes, and lists, tuples,
        sets and dicts of them, whose comparisons are numpy's and Python's own."""
        cls = type_(value)
        base = cls if cls in pristine_types else base_of(cls)
        if base is None or depth > 40:
            return False
        if issubclass_(base, plain_leaves) or issubclass_(base, type_):
            return True
        if base is cls and getattr_(cls, "__eq__") is identity_eq and getattr_(cls, "__ne__") is identity_ne:
            return True  # an instance of the instructor's or a library's class that compares by identity
        if issubclass_(base, ndarray):
            if not value.dtype.hasobject:
                return True
            items = value.flat
        elif issubclass_(base, dict):
            items = [part for pair in dict.items(value) for part in pair]
        elif issubclass_(base, (list, tuple, set, frozenset)):
            items = value
        else:
            return False
        for item in items:
            if not plain(item, depth + 1):
                return False
        return True

    def refuse(value, what):
        raise AssertionError(f"the test {what} a value of type {type_(value).__qualname__}, which is not "
                             "plain data (a number, string, numpy array or a list, tuple or dict of them); "
                             "return plain values, not objects that decide their own comparisons")

    def check_plain(value):
        if not plain(value):
            refuse(value, "compared")
        return value

    def check_truth(value):
        if not plain(value):
            refuse(value, "asserted")
        return value

    def check_call(function, /, *args, **kwargs):
        if id_(function) in numpy_callables:
            for value in (*args, *kwargs.values()):
                if id_(function) in comparisons:
                    if not plain(value):
                        refuse(value, f"passed to numpy's {getattr_(function, '__name__', 'function')}")
                elif type_(value) not in pristine_types and base_of(type_(value)) is None and (
                        hasattr_(type_(value), "__array_function__") or hasattr_(type_(value), "__array_ufunc__")):
                    refuse(value, f"passed to numpy's {getattr_(function, '__name__', 'function')}")
        return function(*args, **kwargs)

    class Unswallowed:
        """A context manager of the submission's that cannot swallow the test's AssertionError."""
        def __init__(self, inner):
            self.inner = inner

        def __enter__(self):
            return self.inner.__enter__()

        def __exit__(self, *exc):
            self.inner.__exit__(*exc)
            return False

    def check_context(manager):
        return manager if type_(manager) in pristine_types else Unswallowed(manager)

    helpers = {"__judge_plain__": check_plain, "__judge_truth__": check_truth, "__judge_call__": check_call,
               "__judge_context__": check_context}

    # -- running the cells ---------------------------------------------------------------------------
    class Capped(io.TextIOBase):
        def __init__(self):
            self.parts, self.size, self.dropped = [], 0, False

        def write(self, text):
            text = str_(text)
            if self.size + len_(text) > limit:
                text, self.dropped = text[:max(0, limit - self.size)], True
            self.parts.append(text)
            self.size += len_(text)
            return len_(text)

        def text(self):
            return "".join(self.parts)

    instructor: dict = {}  # name -> the value the instructor's cells last bound it to
    student_names: set = set()

    def reap():
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    def run(code, scope, is_test):
        out, err = Capped(), Capped()
        sys.stdout, sys.stderr = out, err
        signal.signal(signal.SIGINT, signal.default_int_handler)
        error = None
        testing[0] = is_test
        phase[0] = "student"
        try:
            exec(code, scope)
        except BaseException_ as raised:  # noqa: B036  SystemExit and KeyboardInterrupt fail the cell too
            error = raised
        finally:
            phase[0] = "judge"
            testing[0] = False
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        return error, out, err

    def describe(error):
        if error is None:
            return None, None
        name = type_.__dict__["__name__"].__get__(type_(error))
        try:
            value = str_(error)
        except BaseException_:  # noqa: B036
            value = "<the error's message could not be printed>"
        return name, value if isinstance_(value, str_) and type_(value) is str_ else repr_(value)

    for cell in job["cells"]:
        reap()
        send({"event": "start", "cell": cell["index"]})
        try:
            code = compile(cell["source"], f"<{cell['kind']} cell {cell['index']}>", "exec",
                           dont_inherit=True)
        except SyntaxError as error:
            finish({"event": "done", "cell": cell["index"], "ename": "SyntaxError", "evalue": str_(error),
                  "stdout": "", "stderr": "", "dropped": False, "changed": []})
            continue
        changed = []
        if cell["kind"] == "test":
            changed = restore_state()
            scope = dict_(namespace)
            scope.update(instructor)
            for name in student_names & pristine_builtins.keys():
                if name not in instructor:
                    scope.pop(name, None)
            scope["__builtins__"] = builtins
            scope.update(helpers)
            threads = len_(sys._current_frames())
            error, out, err = (RuntimeError("a thread the submission started was still running; "
                                            "the grader does not run tests beside it"), Capped(), Capped()) \
                if threads > 1 else run(code, scope, True)
            during = restore_state()
            if during and error is None:
                error = AssertionError("the submission changed " + ", ".join(during[:5])
                                       + " while the test ran; the grader does not accept that")
            for name in helpers:
                scope.pop(name, None)
            for name, value in scope.items():
                if namespace.get(name) is not value:
                    namespace[name] = value
                    instructor[name] = value
        else:
            before = dict_(namespace)
            error, out, err = run(code, namespace, False)
            bound = [k for k, v in namespace.items() if before.get(k, before) is not v]
            if cell["kind"] == "student":
                student_names.update(bound)  # a name the instructor's cells bound keeps their value in tests
            else:
                for name in bound:
                    instructor[name] = namespace[name]
                    student_names.discard(name)
        ename, evalue = describe(error)  # may run the submission's __str__: restore after it
        if cell["kind"] == "given":  # the instructor's code: keep what it set up, but not patched builtins
            changed += [f"builtins.{k}" for k in restore_dict(builtins_dict, pristine_builtins, False,
                                                               builtins_dict.__setitem__, builtins_dict.__delitem__)]
        else:  # nothing the submission changed outlives its cell, nor reaches this code
            changed += restore_state()
        finish({"event": "done", "cell": cell["index"], "ename": ename, "evalue": evalue,
              "stdout": out.text(), "stderr": err.text(), "dropped": out.dropped or err.dropped,
              "changed": changed[:20]})
    send({"event": "end"})


_judge()
