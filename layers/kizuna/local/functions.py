"""Loads the Lambda handler modules from functions/ so local mode runs exactly the code Lambda runs.

Lambda gives each execution environment one event at a time and starts another environment when all are busy;
module-level state (Powertools' BatchProcessor, the event resolver's current event) relies on that. Local mode
invokes from several threads, so `FunctionEnvironments` keeps a pool of separately imported handler modules and
hands each concurrent invocation its own (and has the resolvers keep their event per instance, not on Powertools'
class: kizuna.local.resolver_isolation).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import kizuna
from kizuna.catalog import FUNCTIONS
from kizuna.local.resolver_isolation import isolate_resolver_state

Handler = Callable[[dict, Any], dict]
_module_numbers = itertools.count(1)


def functions_dir() -> Path:
    """functions/ beside layers/ in the source tree (Kizuna is installed editable from its repository)."""
    return Path(kizuna.__file__).resolve().parents[2] / "functions"


def load_handler(key: str) -> Handler:
    """Import functions/<key>/handler.py afresh, as a cold start does (settings read from the current environment)."""
    module_path, _, attribute = FUNCTIONS[key].handler.rpartition(".")
    path = functions_dir().parent / f"{module_path}.py"
    name = f"kizuna_local_fn_{key}_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"handler module for function {key!r} not found at {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)


class FunctionEnvironments:
    """A callable handler that runs each concurrent invocation in its own warm environment (module instance)."""

    def __init__(self, key: str) -> None:
        isolate_resolver_state()
        self.key = key
        self._idle: list[Handler] = []
        self._lock = threading.Lock()
        self._cold_start = threading.Lock()
        self.started = 0
        self._idle.append(self._start())  # the first cold start happens up front, so a broken handler fails early

    def __call__(self, event: dict, context: Any) -> Any:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
        if handler is None:
            handler = self._start()
        try:
            return handler(event, context)
        finally:
            with self._lock:
                self._idle.append(handler)

    def _start(self) -> Handler:
        with self._cold_start:  # module execution is serialised; warm invocations are not
            handler = load_handler(self.key)
            self.started += 1
            return handler
