"""The previous config.json layout, still read for one release.

Until the "batch" section existed, Lab 1's settings sat at the top level of
config.json, and one `max_replacements` limited both the Lab 1 replacement
workers (in total) and the Lab 2 restarts (per worker). Such a file is
rewritten here, in memory, into the current layout, with one warning line
saying what to move where; giving a setting in both spellings is an error,
since we could not tell which one was meant.

Everything in this module goes when the old layout stops being accepted. It
knows only plain dicts (never the Settings classes), so wordcount.config can
import it without a cycle.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any

from wordcount.errors import UserError

log = logging.getLogger("config")

# The Lab 1 keys that lived at the top level: the old layout, frozen, not a
# copy of BatchSettings (a key added to "batch" later was never top-level).
OLD_BATCH_KEYS = ("workers", "claim_timeout_s", "block_ms", "batch_files", "batch_bytes",
                  "bgsave_interval_s", "kill_redis_every_s", "crash", "slow_s")
OLD_LIMIT = "max_replacements"
# The old limit meant one thing per job; each job now has its own name for it.
NEW_LIMITS = (("batch", "max_replacement_workers"), ("stream", "max_restarts_per_worker"))


def upgrade_layout(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """`raw` (a config file's object) in the current layout; warns once if it was old."""
    moved = [key for key in OLD_BATCH_KEYS if key in raw]
    has_limit = OLD_LIMIT in raw
    if not moved and not has_limit:
        return raw
    new = {key: value for key, value in raw.items() if key not in moved and key != OLD_LIMIT}
    for key in moved:
        _put(new, "batch", key, raw[key], key, where)
    if has_limit:
        for section, key in NEW_LIMITS:
            _put(new, section, key, raw[OLD_LIMIT], OLD_LIMIT, where)
    log.warning("%s", deprecation_message(where, moved, has_limit))
    return new


def _put(new: dict[str, Any], section: str, key: str, value: Any, old: str, where: str) -> None:
    """Move one old top-level value to `section.key`, unless that is set too."""
    current = new.get(section, {})
    if not isinstance(current, dict):
        raise UserError(f"{where}: '{section}' must be an object")
    if key in current:
        raise UserError(f"{where}: setting '{section}.{key}' is also given as the deprecated top-level "
                        f"'{old}'; keep only '{section}.{key}'")
    new[section] = {**current, key: value}


def deprecation_message(where: str, moved: list[str], has_limit: bool) -> str:
    """One line naming every old key and where it goes now."""
    parts = []
    if moved:
        names = ", ".join(f"'{key}'" for key in moved)
        parts.append(f"top-level {names} {'are' if len(moved) > 1 else 'is'} deprecated; "
                     f"move {'them' if len(moved) > 1 else 'it'} under \"batch\"")
    if has_limit:
        parts.append(f"'{OLD_LIMIT}' is deprecated; it now sets both {_limits()}: set those instead")
    return f"{where}: " + "; ".join(parts)


def _limits() -> str:
    return " and ".join(f"\"{section}.{key}\"" for section, key in NEW_LIMITS)


def renamed_hint(key: str) -> str:
    """For an unknown setting that is the old limit's name (e.g. moved under "batch" as it was)."""
    return f" (renamed: use {_limits()})" if key == OLD_LIMIT else ""


def legacy_attribute(settings: Any, name: str) -> Any:
    """`settings.workers` etc. for a part written against the old layout (a
    student's worker.py): the value of `settings.batch.<name>`, with a
    DeprecationWarning. Any other missing attribute stays an AttributeError."""
    if name not in OLD_BATCH_KEYS:
        raise AttributeError(f"{type(settings).__name__!r} object has no attribute {name!r}")
    warnings.warn(f"settings.{name} is deprecated; use settings.batch.{name}", DeprecationWarning, stacklevel=3)
    return getattr(settings.batch, name)
