"""A boto3 pinpoint client that also knows Kizuna's extension operations (GetSegmentEstimate, ...).

The stock client works unchanged for every Pinpoint operation; this one is for callers that want the extensions
with the same signing, retries and modelled errors. It loads the merged model (kizuna.pinpoint.model.model_data)
through botocore's own data loader, by putting a directory holding it first on the session's search path.
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import boto3

from kizuna.pinpoint.model import SERVICE_NAME, model_data


@cache
def _model_dir() -> Path:
    data = model_data()
    root = Path(tempfile.mkdtemp(prefix="kizuna-model-"))
    target = root / SERVICE_NAME / data["metadata"]["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def extended_client(session: boto3.Session | None = None, **client_kwargs: Any) -> Any:
    """`session.client("pinpoint", **client_kwargs)` with Kizuna's extension operations added."""
    session = session or boto3.Session()
    loader = session._session.get_component("data_loader")  # botocore's documented extension point for models
    if str(_model_dir()) not in loader.search_paths:
        loader.search_paths.insert(0, str(_model_dir()))
    return session.client(SERVICE_NAME, **client_kwargs)
