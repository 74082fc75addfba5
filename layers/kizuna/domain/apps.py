from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class App:
    id: str
    name: str
    arn: str
    creation_date: str
    tags: dict[str, str] = field(default_factory=dict)

    def to_pinpoint(self) -> dict:
        return {
            "Id": self.id,
            "Name": self.name,
            "Arn": self.arn,
            "CreationDate": self.creation_date,
            "tags": self.tags,
        }
