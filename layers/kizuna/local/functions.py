"""Loads the Lambda handler modules from functions/ so local mode runs exactly the code Lambda runs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import kizuna
from kizuna.catalog import FUNCTIONS

Handler = Callable[[dict, Any], dict]


def functions_dir() -> Path:
    """functions/ beside layers/ in the source tree (Kizuna is installed editable from its repository)."""
    return Path(kizuna.__file__).resolve().parents[2] / "functions"


def load_handler(key: str) -> Handler:
    """Import functions/<key>/handler.py afresh (its settings are read from the current environment)."""
    module_path, _, attribute = FUNCTIONS[key].handler.rpartition(".")
    path = functions_dir().parent / f"{module_path}.py"
    name = f"kizuna_local_fn_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"handler module for function {key!r} not found at {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)
