"""In-memory TemplateStore with the DynamoDB adapter's semantics (conditional head writes)."""

from __future__ import annotations

import copy
import threading
from typing import Any


class InMemoryTemplateStore:
    def __init__(self) -> None:
        self.heads: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get_head(self, template_type: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self.heads.get((template_type, name)))

    def put_head(self, head: dict[str, Any], expected_latest: int | None) -> bool:
        key = (head["TemplateType"], head["TemplateName"])
        with self._lock:
            current = self.heads.get(key)
            if (current["LatestVersion"] if current else None) != expected_latest:
                return False
            self.heads[key] = copy.deepcopy(head)
            return True

    def get_version(self, template_type: str, name: str, version: int) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self.versions.get((template_type, name), {}).get(version))

    def put_version(self, template_type: str, name: str, version: int, doc: dict[str, Any]) -> None:
        with self._lock:
            self.versions.setdefault((template_type, name), {})[version] = copy.deepcopy(doc)

    def list_versions(self, template_type: str, name: str) -> list[dict[str, Any]]:
        with self._lock:
            found = self.versions.get((template_type, name), {})
            return [copy.deepcopy(found[v]) for v in sorted(found)]

    def delete_version(self, template_type: str, name: str, version: int) -> None:
        with self._lock:
            self.versions.get((template_type, name), {}).pop(version, None)

    def delete_template(self, template_type: str, name: str) -> None:
        with self._lock:
            self.heads.pop((template_type, name), None)
            self.versions.pop((template_type, name), None)

    def list_heads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(self.heads[k]) for k in sorted(self.heads, key=lambda k: (k[1], k[0]))]
