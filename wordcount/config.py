"""Settings: config.json, validated, with command-line overrides on top.

Every setting has one definition below (type, default, allowed range), so a bad
value is reported the same way whether it came from the file or a flag. The
file has shared keys at the top level and one section per job, "batch" (Lab 1)
and "stream" (Lab 2); the previous layout (Lab 1 keys at the top level) is
still read, see wordcount/config_legacy.py.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from wordcount import config_legacy
from wordcount.docker.sdk import DEFAULT_IMAGE
from wordcount.errors import UserError
from wordcount.faults.spec import batch_crash_setting, parse_batch
from wordcount.parts import check_part
from wordcount.placement import check_placement
from wordcount.tokenize import TOKENIZERS, TokenizerSpec

DEFAULT_CONFIG = "config.json"
REDIS_BACKENDS = ("local", "docker")  # a private server as a local process, or in a container
# More processes than this only queue for the CPUs (and each holds a Redis or
# TCP connection and ~30 MB); a typo like --workers 1000 is refused instead.
MAX_PROCESSES = 64


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


def _at_least_one(v: int) -> bool:
    return v >= 1


def _process_count(v: int) -> bool:
    return 1 <= v <= MAX_PROCESSES


@dataclass(frozen=True)
class StreamSettings:
    """Lab 2 (streaming job) settings, the "stream" object of config.json."""

    mappers: int = 2
    reducers: int = 2
    host: str = "127.0.0.1"
    coordinator_port: int = 0
    reducer_ports: list = field(default_factory=list)  # [] or one per reducer; 0 = pick
    checkpoint_interval_s: float = 0.5  # 0 disables periodic checkpoints
    heartbeat_interval_s: float = 0.2
    heartbeat_timeout_s: float = 1.5
    resend_timeout_s: float = 1.0
    checkpoint_dir: str = ""  # "" = <run dir>/checkpoints
    # Restarts of ONE worker id after it hung or exited with an unexpected
    # status, before the job fails; SIGKILLs and crash-point exits are free.
    max_restarts_per_worker: int = 8
    # A worker that has heard nothing from the coordinator this long exits by
    # itself (it was cut off, superseded, or the coordinator is gone).
    lost_contact_s: float = 10.0
    placement: dict = field(default_factory=dict)  # wordcount/placement.py
    net: dict = field(default_factory=dict)  # network faults, wordcount/faults/netspec.py


@dataclass(frozen=True)
class BatchSettings:
    """Lab 1 (batch job) settings, the "batch" object of config.json."""

    workers: int = 4
    claim_timeout_s: float = 3.0
    block_ms: int = 100
    batch_files: int = 1000
    batch_bytes: int = 16_000_000
    bgsave_interval_s: float = 2.0
    kill_redis_every_s: float = 0.0
    redis_down_s: float = 0.0  # after an injected Redis kill, how long the server stays down before the restart
    crash: dict = field(default_factory=dict)  # worker name -> POINT[@K][=ACTION] (wordcount/faults/spec.py)
    slow_s: float = 5.0
    # Replacement workers the client may start over the WHOLE job (all
    # generations together) when every worker died with work pending.
    max_replacement_workers: int = 8
    placement: dict = field(default_factory=dict)  # where workers run, wordcount/placement.py


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know; see docs/lab1.md and docs/lab2.md for each setting."""

    data_path: str = "data/sample"
    extensions: list = field(default_factory=lambda: [".txt", ".csv"])
    csv_text_column: str = "text"
    tokenizer: str = "split"
    output: str = "wordcount.tsv"
    redis_url: str | None = None
    redis_backend: str = "local"  # "docker": the private server runs in a container
    docker_image: str = DEFAULT_IMAGE
    run_dir: str = ".wc-run"
    split_bytes: int = 16 << 20  # both labs: a larger file becomes ranges of about this size
    chunk_bytes: int = 1 << 18  # both labs: a range is read and counted this much at a time
    top: int = 10
    log_level: str = "WARNING"
    parts: dict = field(default_factory=dict)  # part name -> path of a swapped-in implementation
    keep_runs: int = 20  # finished run directories kept under run_dir (older ones are deleted at start)
    batch: BatchSettings = field(default_factory=BatchSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)

    def tokenizer_spec(self) -> TokenizerSpec:
        return TokenizerSpec(self.tokenizer, self.csv_text_column, self.parts.get("tokenizer"))

    def __getattr__(self, name: str) -> Any:
        """`settings.workers` etc. from parts written against the old layout."""
        return config_legacy.legacy_attribute(self, name)


# section name in config.json -> its dataclass
SECTIONS: dict[str, type] = {"batch": BatchSettings, "stream": StreamSettings}


# name -> (predicate, human description of the allowed values)
_CHECKS: dict[str, tuple[Any, str]] = {
    "workers": (_process_count, f"an integer >= 1 and <= {MAX_PROCESSES}"),
    "claim_timeout_s": (_positive, "a number > 0"),
    "block_ms": (_at_least_one, "an integer >= 1"),
    "batch_files": (_at_least_one, "an integer >= 1"),
    "batch_bytes": (_at_least_one, "an integer >= 1"),
    "bgsave_interval_s": (_non_negative, "a number >= 0 (0 = off)"),
    "kill_redis_every_s": (_non_negative, "a number >= 0 (0 = off)"),
    "redis_down_s": (_non_negative, "a number >= 0 (seconds)"),
    "slow_s": (_non_negative, "a number >= 0"),
    "max_replacement_workers": (_non_negative, "an integer >= 0"),
    "max_restarts_per_worker": (_non_negative, "an integer >= 0"),
    "split_bytes": (_at_least_one, "an integer >= 1"),
    "chunk_bytes": (_at_least_one, "an integer >= 1"),
    "top": (_non_negative, "an integer >= 0"),
    "redis_backend": (lambda v: v in REDIS_BACKENDS, " or ".join(map(repr, REDIS_BACKENDS))),
    "docker_image": (bool, "an image name such as redis:7.4"),
    "keep_runs": (_at_least_one, "an integer >= 1"),
    "tokenizer": (lambda v: v in TOKENIZERS, f"one of {sorted(TOKENIZERS)}"),
    "log_level": (lambda v: v.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"), "DEBUG, INFO, WARNING or ERROR"),
    "mappers": (_process_count, f"an integer >= 1 and <= {MAX_PROCESSES}"),
    "reducers": (_process_count, f"an integer >= 1 and <= {MAX_PROCESSES}"),
    "coordinator_port": (lambda v: 0 <= v < 65536, "a port number (0 = pick a free one)"),
    "checkpoint_interval_s": (_non_negative, "a number >= 0 (0 = off)"),
    "heartbeat_interval_s": (_positive, "a number > 0"),
    "heartbeat_timeout_s": (_positive, "a number > 0"),
    "resend_timeout_s": (_positive, "a number > 0"),
    "lost_contact_s": (_positive, "a number > 0"),
}


def _type_ok(value: Any, default: Any, name: str) -> bool:
    """Accept the default's type; ints where floats are expected; str or None for URLs."""
    if name == "redis_url":
        return value is None or isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _build(cls: type, raw: dict, where: str, prefix: str = "") -> Any:
    known = {f.name: f for f in fields(cls)}
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("_"):  # comments
            continue
        if key not in known:
            raise UserError(f"{where}: unknown setting '{prefix}{key}'{config_legacy.renamed_hint(key)} "
                            f"(known: {', '.join(sorted(known))})")
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise UserError(f"{where}: '{key}' must be an object")
            values[key] = _build(SECTIONS[key], value, where, f"{key}.")
            continue
        values[key] = check_value(f"{prefix}{key}", value, getattr(defaults, key), where)
    return replace(defaults, **values)


def check_value(name: str, value: Any, default: Any, where: str) -> Any:
    """Validate one setting; return it normalised (floats for float settings)."""
    short = name.rsplit(".", 1)[-1]
    if not _type_ok(value, default, short):
        kind = type(default).__name__ if default is not None else "string"
        raise UserError(f"{where}: setting '{name}' must be a {kind} (got {value!r})")
    check = _CHECKS.get(short)
    if check and not check[0](value):
        raise UserError(f"{where}: setting '{name}' must be {check[1]} (got {value!r})")
    if isinstance(default, float):
        return float(value)
    if short == "crash":
        for worker, point in value.items():
            try:
                parse_batch(f"{worker}:{point}")
            except UserError as exc:
                raise UserError(f"{where}: setting '{name}' entry {worker!r}: {exc}") from None
    if short == "net" and value != {}:  # (no faults, the usual case: nothing to check)
        from wordcount.faults import netspec  # Lab 2's message formats: not every batch job's start-up

        netspec.from_setting(value, where)
    if short == "placement":
        check_placement(value, where)
    if short == "parts":
        return {k: check_part(k, v, f"{where}: setting 'parts'") for k, v in value.items() if v}
    if short == "extensions":
        if not value or not all(isinstance(e, str) and e.startswith(".") for e in value):
            raise UserError(f"{where}: setting 'extensions' must be a list like [\".txt\", \".csv\"]")
    return value


def read_json_object(path: str, what: str, flag: str) -> dict[str, Any]:
    """A JSON file that must hold an object; every failure is one UserError line."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise UserError(f"{what} {path!r} not found; pass {flag} FILE") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path!r}: {exc.strerror}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: must hold a JSON object")
    return raw


def load_settings(path: str | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read `path` (default config.json if present), then apply flag overrides."""
    raw: dict[str, Any] = {}
    where = path or DEFAULT_CONFIG
    if path is not None or os.path.exists(DEFAULT_CONFIG):
        raw = config_legacy.upgrade_layout(read_json_object(where, "config file", "--config"), where)
    settings = _build(Settings, raw, where)
    settings = _parts_from_env(settings)
    return apply_overrides(settings, overrides or {})


PARTS_ENV = "WC_PARTS"


def _parts_from_env(settings: Settings) -> Settings:
    """$WC_PARTS="worker=PATH,lua=PATH" swaps parts for every run, including the
    ones the test suite configures itself: how an instructor runs our tests
    against a student's part."""
    spec = os.environ.get(PARTS_ENV, "").strip()
    if not spec:
        return settings
    parts = dict(settings.parts)
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, path = item.partition("=")
        if not sep:
            raise UserError(f"{PARTS_ENV}: {item!r} must be NAME=PATH")
        parts[name] = check_part(name, path, PARTS_ENV)
    return replace(settings, parts=parts)


def apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """Flags win over the file; `batch.X` / `stream.X` keys go into that section.
    None means "flag not given"."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.rpartition(".")
        if section:
            current = getattr(getattr(settings, section), name)
            sections.setdefault(section, {})[name] = check_value(key, value, current, "command line")
        else:
            top[key] = check_value(key, value, getattr(settings, key), "command line")
            if key == "parts":  # a flag swaps one part; the others stay as configured
                top[key] = {**settings.parts, **top[key]}
    for section, changes in sections.items():
        top[section] = replace(getattr(settings, section), **changes)
    return check_consistent(replace(settings, **top))


def check_consistent(settings: Settings) -> Settings:
    """Rules that involve more than one setting."""
    if settings.redis_backend == "docker" and settings.redis_url:
        raise UserError("--redis docker starts its own server in a container; drop --redis-url "
                        "(or redis_url in the config file)")
    if settings.batch.kill_redis_every_s and not settings.batch.bgsave_interval_s:
        raise UserError(
            "batch.kill_redis_every_s needs batch.bgsave_interval_s > 0: without snapshots every Redis "
            "kill rolls the job back to its start and it never finishes")
    # a deprecated bare 'slow' crash spec stalls slow_s: rewrite it now that slow_s is final
    batch = settings.batch
    return replace(settings, batch=replace(batch, crash=batch_crash_setting(batch.crash, batch.slow_s)))


def to_json(settings: Settings) -> str:
    """The effective settings, for child processes and run records."""
    return json.dumps(asdict(settings), indent=2, sort_keys=True)
