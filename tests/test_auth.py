"""Units of frame authentication (Lab 2) and of keeping secrets out of reach
(both labs): the replay window, the incarnation rules, the TCP channel, key
delivery, rate-limited rejection logs, URL redaction and private files."""
from __future__ import annotations

import io
import logging
import os
import stat

import pytest

import message as m
from wordcount import jobuser, private
from wordcount.errors import UserError
from wordcount.stream import admission, auth

pytestmark = pytest.mark.stream
KEY = auth.Key(bytes(range(32)))


# -- replay window -------------------------------------------------------------------------
def test_replay_window_accepts_each_number_once_even_out_of_order():
    w = admission.ReplayWindow(size=64)
    assert [w.check(s) for s in (1, 3, 2, 10, 5)] == [None] * 5  # reordered: all new
    assert "already" in w.check(3) and "already" in w.check(10)
    assert w.check(60) is None and w.check(11) is None  # still inside the window
    assert w.check(200) is None
    assert "older than the window" in w.check(136)  # 200 - 64
    assert w.check(137) is None
    assert "not positive" in w.check(0)


# -- admission ---------------------------------------------------------------------------------
def env(sender: str = "mapper-0", inc: int = 0, seq: int = 1, msg: m.Message | None = None) -> auth.Envelope:
    return auth.Envelope(msg or m.Done(sender, 0, 1), "coordinator", 0, inc, seq)


def reason(fn, *args) -> str:
    with pytest.raises(auth.Rejected) as info:
        fn(*args)
    return info.value.reason


def test_admission_takes_only_the_incarnation_started_last_and_fresh_numbers():
    current = {"mapper-0": 2}
    a = admission.Admission(current.get)
    assert a.admit(env(inc=2, seq=5)).seq == 5
    assert reason(a.admit, env(inc=2, seq=5)) == "replay"
    assert reason(a.admit, env(inc=1, seq=99)) == "stale_incarnation"
    assert reason(a.admit, env(inc=3, seq=99)) == "future_incarnation"
    assert reason(a.admit, env(sender="mapper-7")) == "unknown_sender"
    assert reason(a.admit, env(inc=2, seq=6, msg=m.Hello("mapper-0", 1, 1, 0))) == "malformed"
    current["mapper-0"] = 3  # restarted: a new incarnation numbers from 1 again
    assert a.admit(env(inc=3, seq=1)).src_inc == 3
    w = admission.Admission(admission.coordinator_only)
    assert w.admit(env(sender=m.COORDINATOR, msg=m.Exit(m.COORDINATOR))).seq == 1
    assert reason(w.admit, env(sender="mapper-1")) == "unknown_sender"


# -- the TCP channel --------------------------------------------------------------------------------
def test_channel_needs_a_hello_first_then_the_next_number_from_the_same_sender():
    ck = KEY.for_connection(b"n" * 32)
    sealer = auth.Sealer(ck, 1)
    ch = auth.Channel(ck, "reducer-0", 0)
    assert reason(auth.Channel(ck, "reducer-0", 0).open,
                  sealer.seal(m.WordCounts("mapper-0", 0, "1-0", {"x": 1}), "reducer-0", 0)[4:]) == "unauthenticated_tcp"
    sealer = auth.Sealer(ck, 1)
    hello = sealer.seal(m.Hello("mapper-0", 1, 42, 0), "reducer-0", 0)[4:]
    assert ch.open(hello).msg.sender == "mapper-0" and ch.peer == "mapper-0"
    wc = sealer.seal(m.WordCounts("mapper-0", 0, "1-0", {"x": 1}), "reducer-0", 0)[4:]
    assert ch.open(wc).msg.counts == {"x": 1}
    assert reason(ch.open, wc) == "replay"
    other = auth.Channel(ck, "reducer-0", 0)
    other.peer, other.peer_inc, other.seq = "mapper-1", 0, 2
    assert reason(other.open, sealer.seal(m.Exit("mapper-0"), "reducer-0", 0)[4:]) == "unknown_sender"
    # a frame of another connection (another nonce) never verifies here
    stray = auth.Sealer(KEY.for_connection(b"m" * 32), 1).seal(m.Hello("mapper-0", 1, 42, 0), "reducer-0", 0)
    assert reason(auth.Channel(ck, "reducer-0", 0).open, stray[4:]) == "bad_mac"


def test_challenge_round_trip_and_rejection():
    nonce, inc = auth.read_challenge(io.BytesIO(auth.challenge_frame(b"z" * 32, 5)))
    assert (nonce, inc) == (b"z" * 32, 5)
    with pytest.raises(m.DecodeError):
        auth.read_challenge(io.BytesIO(b"\x00\x00\x00\x02hi"))


# -- keys ------------------------------------------------------------------------------------------------
def test_key_comes_from_the_environment_only_in_the_right_shape(monkeypatch):
    monkeypatch.delenv(auth.INSECURE_ENV, raising=False)
    key = auth.Key.generate()
    assert key.secure and auth.Key.from_env(key.env()).tag(b"x") == key.tag(b"x")
    assert auth.Key.generate().tag(b"x") != key.tag(b"x")  # a new key for every job
    for bad in ({}, {auth.KEY_ENV: "zz"}, {auth.KEY_ENV: "ab" * 16}):
        with pytest.raises(UserError, match=auth.KEY_ENV):
            auth.Key.from_env(bad)


def test_insecure_switch_is_loud(monkeypatch, caplog):
    monkeypatch.setenv(auth.INSECURE_ENV, "1")
    with caplog.at_level(logging.WARNING):
        key = auth.Key.generate()
    assert not key.secure and "NOT authenticated" in caplog.text
    assert key.tag(b"anything") == bytes(32)
    monkeypatch.setenv(auth.INSECURE_ENV, "yes")  # only exactly "1" switches it off
    assert auth.Key.generate().secure


# -- counting rejections -------------------------------------------------------------------------------------
def test_rejections_are_counted_all_but_logged_sparingly(caplog):
    log = logging.getLogger("test-rejections")
    r = admission.Rejections(log)
    with caplog.at_level(logging.WARNING, logger="test-rejections"):
        for _ in range(10_000):
            r.add(auth.Rejected("bad_mac", "x"), ("127.0.0.1", 9))
        r.add(auth.Rejected("replay", "y"), ("127.0.0.1", 9))
    assert r.snapshot() == {"bad_mac": 10_000, "replay": 1}
    assert len(caplog.records) == admission.LOG_FIRST + 1
    assert admission.summary({"bad_mac": 120, "replay": 3}) == "rejected 123 frames: bad_mac 120, replay 3"
    assert admission.total({"a": 1}, {"a": 2, "b": 0}) == {"a": 3}
    assert set(admission.REASONS) >= {"bad_mac", "version", "malformed", "replay", "stale_incarnation",
                                      "unknown_sender", "oversized", "unauthenticated_tcp"}


# -- secrets out of files and argv ------------------------------------------------------------------------------
def test_redacted_urls_keep_the_server_but_not_the_password():
    assert private.redact_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert private.redact_url("rediss://bob:s3cret@h:7/1?x=1") == "rediss://bob@h:7/1?x=1"
    assert private.redact_url("unix:///run/r.sock?password=s3cret&db=2") == "unix:///run/r.sock?db=2"
    assert private.has_password("redis://:s3cret@h:1/0") and not private.has_password("redis://h:1/0")
    url = jobuser.with_user("redis://:admin@127.0.0.1:6379/3", "wc-job-ab", "p/w")
    assert url == "redis://wc-job-ab:p%2Fw@127.0.0.1:6379/3" and "admin" not in url


def test_private_dirs_and_files_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        run_dir = tmp_path / ".wc-run"
        run_dir.mkdir(mode=0o755)
        os.chmod(run_dir, 0o755)  # as an older version left it
        run_path = private.make_run_dir(str(run_dir), "job1")
        private.write_file(os.path.join(run_path, "settings.json"), "{}")
        shared = tmp_path / "shared"
        shared.mkdir()
        os.chmod(shared, 0o1777)  # a user's run_dir like /tmp: not ours to change
        private.make_run_dir(str(shared), "job2")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(run_dir) == mode(run_path) == mode(os.path.join(run_path, "logs")) == 0o700
    assert mode(os.path.join(run_path, "settings.json")) == 0o600
    assert mode(shared) == 0o1777 and mode(shared / "job2") == 0o700


def test_per_job_redis_user_rule_names_only_the_jobs_keys():
    text = jobuser.rule("ab12", "pw")
    assert "~wc:ab12:*" in text and "pw" not in text.split() and "-@admin" in text and "-function" in text
