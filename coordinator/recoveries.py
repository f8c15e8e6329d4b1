"""How long each failure cost: from the kill (or its detection, for crashes
we did not cause) until the job was making progress again, i.e. a mapper
processed an entry past the position it was rolled back to, or the job moved
on to its final checkpoint. This is the "recoveries" list of the run record."""
from __future__ import annotations

from dataclasses import dataclass

from coordinator.phases import Phase, State

RECOVERING = (Phase.RECOVER_REDUCER, Phase.RECOVER_MAPPER)


@dataclass
class Failure:
    worker: str
    cause: str  # killed (by --kill), crash (crash point), hung (missed heartbeats), exit N
    at: float  # monotonic: the SIGKILL, else when the failure was noticed
    detected: float
    recovery_id: int  # the recovery started for it
    resumed: float | None = None


class RecoveryLog:
    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.failures: list[Failure] = []
        self.kill_times: dict[str, float] = {}
        self._baseline: dict[str, int] | None = None
        self._baseline_rid = -1

    def killed(self, worker: str, now: float) -> None:
        self.kill_times[worker] = now

    def failed(self, worker: str, cause: str, now: float, recovery_id: int) -> None:
        at = self.kill_times.pop(worker, now) if cause == "killed" else now
        self.failures.append(Failure(worker, cause, at, now, recovery_id))

    def observe(self, state: State, now: float) -> None:
        """Call after every step: resolves failures once progress resumes."""
        if state.phase in RECOVERING:
            self._baseline = None
            return
        positions = {w.id: w.position for w in state.workers if w.is_mapper}
        if self._baseline is None or self._baseline_rid != state.recovery_id:
            self._baseline, self._baseline_rid = positions, state.recovery_id
            if state.phase == Phase.CP and not state.all_done:
                return  # just recovered: wait for real progress
        moved = any(positions[w] > self._baseline.get(w, 0) for w in positions)
        if moved or state.all_done or state.phase != Phase.CP:
            for f in self.failures:
                if f.resumed is None and f.recovery_id <= state.recovery_id:
                    f.resumed = now

    def to_json(self) -> list[dict]:
        return [{"killed": f.worker, "cause": f.cause, "at_s": round(f.at - self.t0, 3),
                 "detected_after_s": round(f.detected - f.at, 3),
                 "resume_after_s": None if f.resumed is None else round(f.resumed - f.at, 3)}
                for f in self.failures]
