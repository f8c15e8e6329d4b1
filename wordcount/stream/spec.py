"""The job description the launcher hands the coordinator process (a JSON file
in the run directory), so the coordinator's command line stays short."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import os

from wordcount import private
from wordcount.config import Settings, to_json
from wordcount.faults.schedules import ChaosPlan, KillSpec
from wordcount.keys import JobKeys


# What the launcher writes on the reference coordinator's stdin once the mappers' streams are filled
# (coordinator/streams.py): the coordinator got its go before, to start the reducers meanwhile.
STREAMS_READY = b"ready\n"


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


def write_spec(settings: Settings, keys: JobKeys, run_path: str, entries: int, throttle_s: float,
               crash: dict, timed: KillSpec | None, logical: ChaosPlan | None) -> JobSpec:
    """The job's spec file and the children's settings file (both owner-only),
    and the checkpoint directory. Needs nothing of Redis: the launcher writes
    it before it starts the server, so the coordinator can start at once."""
    st = settings.stream
    settings_path = os.path.join(run_path, "settings.json")
    private.write_file(settings_path, to_json(private.for_children(settings)))
    cp_dir = os.path.join(st.checkpoint_dir, keys.job) if st.checkpoint_dir else os.path.join(run_path, "checkpoints")
    private.make_dir(cp_dir)
    spec = JobSpec(job=keys.job, run_path=run_path, settings_path=settings_path,
                   checkpoint_dir=os.path.abspath(cp_dir), mappers=st.mappers, reducers=st.reducers,
                   total_files=entries, throttle_s=throttle_s, crash=crash,
                   kill=timed.to_json() if timed else None, chaos=logical.to_json() if logical else None)
    spec.save(spec_path(run_path))
    return spec
