"""Rebuild data/sample/ from Debian packages, so its provenance is checkable.

The sample is committed; this script only documents, and can repeat, how it
was made. It downloads (never installs) these Debian packages and extracts
their texts: dict-devil, dict-jargon, miscfiles, fortunes-de. The King James
Bible comes from bible-kjv-text through the `bible` program of the bible-kjv
package, which must be installed (`apt-get install bible-kjv`), because its
data file is in a private compressed format.

    python data/build_sample.py [OUT_DIR]      # default: data/sample

See data/SOURCES.md for each file's source and licence.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import logging
import random
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from generate import CSV_HEADER  # same columns as the generated corpora

log = logging.getLogger("build_sample")
HERE = Path(__file__).resolve().parent
PACKAGES = ("dict-devil", "dict-jargon", "miscfiles", "fortunes-de")
JARGON_BYTES = 900_000  # keep the sample under ~3 MB: the first 900 kB of entries
BIBLE_BOOKS = {  # file stem -> verse range accepted by `bible`
    "kjv-genesis": "Gen1:1-50:26",
    "kjv-ruth": "Ruth1:1-4:22",
    "kjv-psalms": "Ps1:1-150:6",
    "kjv-proverbs": "Prov1:1-31:31",
    "kjv-ecclesiastes": "Eccl1:1-12:14",
}
TWEET_FILES = 2
TWEETS_PER_FILE = 1500
EMOJI = ["😀", "🙏", "🔥", "📚", "✨", "🤔", "❤️", "👍🏽", "🇺🇸", "👩‍💻", "😂", "🎉", "☕", "🌍", "💡"]


class BuildError(Exception):
    """A missing tool or package: reported in one line."""


# -- fetching ---------------------------------------------------------------------
def fetch_packages(workdir: Path) -> Path:
    """apt-get download + dpkg-deb -x every package into workdir/root."""
    root = workdir / "root"
    root.mkdir()
    try:
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=workdir, check=True,
                       capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise BuildError(f"apt-get download failed (run 'apt-get update' first?): {detail.strip()}") from None
    for deb in sorted(workdir.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def read_gz(path: Path) -> str:
    """dictzip (.dict.dz) and .gz files are both plain gzip streams."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return fh.read()


def dict_body(text: str) -> str:
    """A dictd database without dictfmt's header lines and trailing alphabet entry."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines[:10]) if line.startswith("00-database-short")) + 2
    body = lines[start:]
    if body and body[-1].startswith(" ") and " " not in body[-1].strip():
        body = body[:-1]
    return "\n".join(body).strip("\n") + "\n"


def bible_text(verses: str) -> str:
    """One book of the KJV as `bible -l80` prints it."""
    if shutil.which("bible") is None:
        raise BuildError("the 'bible' program is missing; run 'apt-get install bible-kjv'")
    out = subprocess.run(["bible", "-l80", verses], check=True, capture_output=True, text=True)
    return out.stdout.strip("\n") + "\n"


def fortunes_text(text: str) -> str:
    """A fortune file with its '%' separators turned into blank lines."""
    return re.sub(r"^%\n", "\n", text, flags=re.M).strip("\n") + "\n"


# -- splitting --------------------------------------------------------------------
def split_paragraphs(text: str, parts: int) -> list[str]:
    """`parts` pieces of about equal size, cut only at blank lines."""
    paragraphs = text.split("\n\n")
    target = len(text) / parts
    pieces: list[list[str]] = [[]]
    size = 0
    for para in paragraphs:
        if size >= target * len(pieces) and len(pieces) < parts:
            pieces.append([])
        pieces[-1].append(para)
        size += len(para) + 2
    return ["\n\n".join(p).strip("\n") + "\n" for p in pieces]


def head_entries(text: str, limit: int) -> str:
    """The leading blank-line-separated paragraphs that fit in `limit` characters."""
    cut = text.rfind("\n\n", 0, limit)
    return text[: cut if cut > 0 else limit].rstrip("\n") + "\n"


def collect_texts(root: Path) -> dict[str, str]:
    """file stem -> text, for every .txt file of the sample."""
    dictd = root / "usr/share/dictd"
    texts: dict[str, str] = {}
    for i, part in enumerate(split_paragraphs(dict_body(read_gz(dictd / "devil.dict.dz")), 3), 1):
        texts[f"devils-dictionary-{i}"] = part
    jargon = head_entries(dict_body(read_gz(dictd / "jargon.dict.dz")), JARGON_BYTES)
    for i, part in enumerate(split_paragraphs(jargon, 3), 1):
        texts[f"jargon-file-{i}"] = part
    state = root / "usr/share/state"
    texts["us-constitution"] = read_gz(state / "us-constitution.gz")
    texts["us-declaration"] = read_gz(state / "us-declaration.gz")
    proverbs = root / "usr/share/games/fortunes/de/sprichworte"
    texts["de-sprichworte"] = fortunes_text(proverbs.read_text(encoding="utf-8"))
    for stem, verses in BIBLE_BOOKS.items():
        texts[stem] = bible_text(verses)
    return texts


# -- tweets -----------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    """Sentences of 20-250 characters within a paragraph, whitespace collapsed, verse numbers dropped."""
    found: list[str] = []
    for para in re.sub(r"^\s*\d+ ", "", text, flags=re.M).split("\n\n"):
        flat = re.sub(r"\s+", " ", para).strip()
        found += re.split(r"(?<=[.!?])\s+(?=[A-Z\"“'(])", flat)
    return [s for s in found if 20 <= len(s) <= 250]


def tweet(rng: random.Random, pool: list[str], tag: str) -> str:
    """One tweet: a sentence or two (maybe on separate lines), emoji, tags, a mention."""
    text = rng.choice(pool)
    roll = rng.random()
    if roll < 0.25:
        text += "\n" + rng.choice(pool)
    elif roll < 0.30:
        text += "\n\n" + rng.choice(pool)
    elif roll < 0.40:
        text = text[: rng.randint(15, len(text))].rstrip() + "…"
    if rng.random() < 0.5:
        text += " " + "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))
    if rng.random() < 0.4:
        text += f" #{tag}"
    if rng.random() < 0.15:
        text = f"@{rng.choice(['bierce_fan', 'hacker_lore', 'psalm_a_day', 'we_the_people', 'sprichwort'])} {text}"
    return text


def tweet_rows(texts: dict[str, str], seed: int = 2024) -> list[list]:
    """Rows (id, created_at, user, text, lang, retweets) built from the sample's sentences."""
    rng = random.Random(seed)
    pools = {stem: sentences(body) for stem, body in texts.items()}
    pools = {stem: pool for stem, pool in pools.items() if pool}
    stems = sorted(pools)
    when = datetime(2023, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(TWEET_FILES * TWEETS_PER_FILE):
        stem = rng.choice(stems)
        tag = "".join(w.capitalize() for w in stem.rstrip("-0123456789").split("-"))
        when += timedelta(seconds=rng.randint(1, 900))
        lang = "de" if stem.startswith("de-") else "en"
        rows.append([1_600_000_000_000 + i, when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     f"{stem.split('-')[0]}_{rng.randint(1, 99)}", tweet(rng, pools[stem], tag),
                     lang, rng.choice([0, 0, 0, 1, 2, 5, 17, 230])])
    return rows


def write_csv(path: Path, rows: list[list]) -> None:
    """RFC 4180 CSV; every string quoted, so embedded commas and newlines are safe."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)


# -- main -------------------------------------------------------------------------
def build(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="wc-sample-") as tmp:
        texts = collect_texts(fetch_packages(Path(tmp)))
    out.mkdir(parents=True, exist_ok=True)
    for stem, body in texts.items():
        (out / f"{stem}.txt").write_text(body, encoding="utf-8")
    rows = tweet_rows(texts)
    for i in range(TWEET_FILES):
        write_csv(out / f"tweets-{i + 1}.csv", rows[i * TWEETS_PER_FILE:(i + 1) * TWEETS_PER_FILE])
    total = sum(p.stat().st_size for p in out.iterdir())
    log.info("wrote %d files, %.2f MB, to %s", len(texts) + TWEET_FILES, total / 1e6, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(HERE / "sample"), help="output directory (default: data/sample)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        build(Path(args.out))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
