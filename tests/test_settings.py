"""The settings layout: shared keys at the top of config.json, Lab 1's under
"batch", Lab 2's under "stream"; the previous layout (Lab 1 keys at the top,
one `max_replacements` for both jobs) still read with one warning line; and
the two replacement limits, which are now two settings. Whether each limit
does what its name says is checked with real processes in
test_lab1_crashes.py (a total) and test_stream_crash.py (per worker)."""
from __future__ import annotations

import copy
import json
import logging
import pickle
from dataclasses import fields, replace

import pytest
from support import REPO, TEST_DEFAULTS, job_dirs, run_batch, serial, write_config

from wordcount.config import SECTIONS, BatchSettings, Settings, StreamSettings, apply_overrides, load_settings
from wordcount.config_legacy import OLD_BATCH_KEYS
from wordcount.errors import UserError

# The repository's config.json as it was before the "batch" section.
OLD_CONFIG = {
    "_comment": "the layout before the batch section",
    "data_path": "data/sample", "extensions": [".txt", ".csv"], "csv_text_column": "text", "tokenizer": "split",
    "workers": 4, "output": "wordcount.tsv", "redis_url": None, "redis_backend": "local", "docker_image": "redis:7.4", "run_dir": ".wc-run", "claim_timeout_s": 3.0,
    "block_ms": 100, "batch_files": 1000, "batch_bytes": 16000000, "bgsave_interval_s": 2.0,
    "kill_redis_every_s": 0, "crash": {}, "slow_s": 5.0, "max_replacements": 8, "top": 10, "log_level": "INFO", "keep_runs": 20, "split_bytes": 16777216, "chunk_bytes": 262144,
    "stream": {"mappers": 2, "reducers": 2, "host": "127.0.0.1", "coordinator_port": 0, "reducer_ports": [],
               "checkpoint_interval_s": 0.5, "heartbeat_interval_s": 0.2, "heartbeat_timeout_s": 1.5,
               "resend_timeout_s": 1.0, "checkpoint_dir": "", "lost_contact_s": 10.0, "placement": {}, "net": {}},
}
NEWER_BATCH_KEYS = ("placement", "redis_down_s")  # born after the old layout: only ever under "batch"


def old_layout(new: dict) -> dict:
    """`new` (a config in the current layout) spelled the old way."""
    old = {k: v for k, v in new.items() if k != "batch"}
    batch = {k: v for k, v in new.get("batch", {}).items() if k not in NEWER_BATCH_KEYS}
    limit = batch.pop("max_replacement_workers", None)
    old.update(batch)
    if limit is not None:
        old["max_replacements"] = limit
        old["stream"] = {k: v for k, v in new.get("stream", {}).items() if k != "max_restarts_per_worker"}
    return old


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def load(tmp_path, content: dict, name: str = "cfg.json") -> Settings:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return load_settings(str(path))


# -- the current layout ------------------------------------------------------------------------
def test_repository_config_is_the_current_layout_with_every_setting(caplog):
    raw = json.loads((REPO / "config.json").read_text(encoding="utf-8"))
    assert not set(OLD_BATCH_KEYS) & set(raw) and "max_replacements" not in raw
    for section, cls in SECTIONS.items():
        assert sorted(raw[section]) == sorted(f.name for f in fields(cls)), section
    settings = load_settings(str(REPO / "config.json"))
    assert warnings_of(caplog) == []
    assert replace(settings, log_level="WARNING", parts={}) == Settings()  # the file spells out the defaults


def test_every_section_setting_is_documented():
    lab1 = (REPO / "docs" / "lab1.md").read_text(encoding="utf-8")
    lab2 = (REPO / "docs" / "lab2.md").read_text(encoding="utf-8")
    assert all(f"`batch.{f.name}`" in lab1 for f in fields(BatchSettings))
    assert all(f"`{f.name}`" in lab2 for f in fields(StreamSettings))


def test_new_layout_is_read_into_its_sections(tmp_path, caplog):
    settings = load(tmp_path, {"top": 3, "batch": {"workers": 2, "max_replacement_workers": 5},
                               "stream": {"mappers": 3, "max_restarts_per_worker": 1}})
    assert settings.top == 3 and settings.batch.workers == 2 and settings.stream.mappers == 3
    assert settings.batch.max_replacement_workers == 5 and settings.stream.max_restarts_per_worker == 1
    assert settings.batch.claim_timeout_s == BatchSettings().claim_timeout_s  # the rest: defaults
    assert warnings_of(caplog) == []


def test_the_two_limits_are_independent_settings():
    settings = apply_overrides(Settings(), {"batch.max_replacement_workers": 0})
    assert settings.stream.max_restarts_per_worker == StreamSettings().max_restarts_per_worker
    settings = apply_overrides(Settings(), {"stream.max_restarts_per_worker": 0})
    assert settings.batch.max_replacement_workers == BatchSettings().max_replacement_workers


# -- the old layout ----------------------------------------------------------------------------
def test_old_layout_reads_the_same_with_one_warning_line(tmp_path, caplog):
    new = json.loads((REPO / "config.json").read_text(encoding="utf-8"))
    assert old_layout(new) == {**OLD_CONFIG, "_comment": new["_comment"]}
    assert load(tmp_path, OLD_CONFIG, "old.json") == load_settings(str(REPO / "config.json"))
    (line,) = warnings_of(caplog)
    assert line.startswith(f"{tmp_path / 'old.json'}: top-level 'workers', 'claim_timeout_s', ")
    assert "are deprecated; move them under \"batch\"" in line
    assert "'max_replacements' is deprecated" in line
    assert '"batch.max_replacement_workers" and "stream.max_restarts_per_worker"' in line
    assert "\n" not in line


def test_old_limit_sets_both_new_limits(tmp_path, caplog):
    settings = load(tmp_path, {"max_replacements": 3})
    assert settings.batch.max_replacement_workers == 3 and settings.stream.max_restarts_per_worker == 3
    (line,) = warnings_of(caplog)
    assert "top-level" not in line and "'max_replacements' is deprecated" in line


def test_one_old_key_is_named_in_the_singular(tmp_path, caplog):
    assert load(tmp_path, {"workers": 2}).batch.workers == 2
    assert warnings_of(caplog) == [f"{tmp_path / 'cfg.json'}: top-level 'workers' is deprecated; "
                                   "move it under \"batch\""]


def test_old_top_level_values_are_validated_under_their_new_name(tmp_path):
    with pytest.raises(UserError, match=r"setting 'batch\.workers' must be an integer >= 1"):
        load(tmp_path, {"workers": 0})


@pytest.mark.parametrize("content, spelling", [
    ({"workers": 2, "batch": {"workers": 3}}, "batch.workers"),
    ({"crash": {}, "batch": {"crash": {"w0": "after_read"}}}, "batch.crash"),
    ({"max_replacements": 2, "batch": {"max_replacement_workers": 3}}, "batch.max_replacement_workers"),
    ({"max_replacements": 2, "stream": {"max_restarts_per_worker": 3}}, "stream.max_restarts_per_worker"),
])
def test_old_and_new_spelling_of_one_setting_is_an_error(tmp_path, content, spelling):
    with pytest.raises(UserError) as info:
        load(tmp_path, content)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'cfg.json'}: setting '{spelling}' is also given as the deprecated "
                              "top-level '") and "\n" not in message, message


def test_old_attribute_names_still_read_with_a_deprecation_warning():
    settings = apply_overrides(Settings(), {"batch.workers": 7})
    with pytest.deprecated_call(match=r"settings\.workers is deprecated; use settings\.batch\.workers"):
        assert settings.workers == 7
    with pytest.raises(AttributeError):
        settings.max_replacements  # it meant two things: no alias
    assert copy.deepcopy(settings) == settings == pickle.loads(pickle.dumps(settings))


# -- a real run with the old layout -------------------------------------------------------------
def test_old_layout_config_runs_the_same_job(tmp_run, corpus):
    """One test writes the old layout and runs the job: one warning line, no
    traceback, the exact table, and the same effective settings in the run's
    settings.json as the same config in the current layout."""
    new = write_config(tmp_run, filename="new.json")
    new_settings = load_settings(str(new))
    write_config(tmp_run, defaults=False, **old_layout(json.loads(new.read_text(encoding="utf-8"))))
    result, table, record = run_batch(tmp_run, corpus)
    deprecations = [ln for ln in result.stderr.splitlines() if "deprecated" in ln]
    assert len(deprecations) == 1 and deprecations[0].startswith("WARNING config: "), result.stderr
    assert "Traceback" not in result.stderr
    assert table == serial(corpus)
    assert record.workers == TEST_DEFAULTS["batch"]["workers"]
    (job,) = job_dirs(tmp_run / ".wc-run")
    assert load_settings(str(job / "settings.json")) == replace(new_settings, data_path=str(corpus))
