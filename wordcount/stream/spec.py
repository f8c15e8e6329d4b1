"""The job description the launcher hands the coordinator process (a JSON file
in the run directory), so the coordinator's command line stays short."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import os

from wordcount import private
from wordcount.faults.schedules import ChaosPlan, KillSpec


def spec_path(run_path: str) -> str:
    """Where a run's spec goes: the coordinator's only argument, known before the spec is written."""
    return os.path.join(run_path, "stream-job.json")


@dataclass(frozen=True)
class JobSpec:
    job: str
    run_path: str
    settings_path: str
    checkpoint_dir: str
    mappers: int
    reducers: int
    total_files: int
    throttle_s: float = 0.0
    crash: dict = field(default_factory=dict)  # worker id -> POINT[@K][=ACTION] (first incarnation only)
    kill: dict | None = None  # KillSpec fields: timed kills, or None
    chaos: dict | None = None  # ChaosPlan.to_json(): logical kills, or None

    @property
    def timed(self) -> KillSpec | None:
        return KillSpec(**self.kill) if self.kill else None

    @property
    def logical(self) -> ChaosPlan | None:
        return ChaosPlan.from_json(self.chaos) if self.chaos else None

    def save(self, path: str) -> None:
        private.write_file(path, json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str) -> "JobSpec":
        with open(path, encoding="utf-8") as fh:
            return cls(**json.load(fh))
