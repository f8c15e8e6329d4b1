"""`python -m coordinator --spec RUN/stream-job.json`: the coordinator process,
started by `python client.py stream` (wordcount/stream/launch.py). It prints JSON
lines on stdout -- {"status": ...} while running, one {"result": ...} at the
end -- and logs to stderr (the launcher sends that to logs/coordinator.log)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import NoReturn, Sequence

from coordinator.coordinator import Coordinator
from coordinator.status import emit
from wordcount import trace
from wordcount.config import load_settings
from wordcount.errors import JobFailed, UserError
from wordcount.stream.spec import JobSpec


def _terminate(signum: int, frame: object) -> NoReturn:
    """SIGTERM (the launcher stopping us) unwinds, so every worker is stopped in a finally."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lab 2 coordinator (started by 'client.py stream')")
    parser.add_argument("--spec", required=True, help="job description written by the launcher")
    parser.add_argument("--streams-on-stdin", action="store_true",
                        help="give the mappers their go only once the launcher writes 'ready' on stdin "
                        "(it fills their streams meanwhile: coordinator/streams.py)")
    args = parser.parse_args(argv)
    spec = JobSpec.load(args.spec)
    settings = load_settings(spec.settings_path)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s coordinator %(levelname)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    trace.event(trace.START)
    try:
        result = Coordinator(spec, settings, streams_on_stdin=args.streams_on_stdin).run()
    except (UserError, JobFailed) as exc:
        logging.getLogger("coordinator").error("%s", exc)
        emit({"result": {"ok": False, "reason": str(exc), "user_error": isinstance(exc, UserError)}})
        trace.event(trace.EXIT, code=exc.exit_code)
        return exc.exit_code
    emit({"result": result})
    code = 0 if result["ok"] else JobFailed.exit_code
    trace.event(trace.EXIT, code=code)
    return code


if __name__ == "__main__":
    sys.exit(main())
