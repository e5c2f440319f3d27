"""The documentation tells the truth about the product.

The README's first screen quotes the shipped model's measurements: each quoted metric must be the
value in the model's info.json, rounded as written, and the screen must quote no metric this file
does not check. The README stays a front door (a length limit). No tracked file speaks of the
development sessions by number (dates say when) or names a path outside the repository (the real
clips' sibling folder, ../shared/data/video, is the one documented exception).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MODEL = ROOT / "stream" / "assets" / "default_model"
FIRST_SCREEN_LINES = 60
MAX_README_LINES = 300

# The first screen's table of metrics: row label -> info.json key, "{}" standing for the chunks
# ahead of each column (TABLE_CHUNKS, in the header's order).
TABLE_ROWS = {
    "shipped model, PSNR (dB)": "real_dit_psnr_c{}",
    "repeat the last frame, PSNR (dB)": "real_repeat_psnr_c{}",
    "shipped model's motion over the truth's": "real_motion_c{}",
}
TABLE_CHUNKS = (1, 2, 4)
# Metrics quoted in the first screen's prose: a pattern whose first group is the number ->
# info.json key.
PROSE_METRICS = {
    r"(\d+(?:\.\d+)?)x\s+further\s+apart": "context_ratio_c1",
}
# What reads as a measured number: a decimal, a ratio (392x, not 64x64), dB or a percentage.
METRIC_LIKE = re.compile(
    r"(?<![\w.])\d+\.\d+(?![\w.])|(?<![\w.])\d+(?:\.\d+)?x\b|\b\d+(?:\.\d+)?\s?(?:dB|%)"
)
# A model named by its training steps: vae4400, dit20296.
MODEL_STEPS = re.compile(r"\b(?:vae|dit)\d+\b")

# A development session by number: the word, singular or plural, any case of its first letter,
# then a space or a hyphen and digits; not a flag such as `--sessions 1 2 4 8` and not an
# identifier such as max_sessions=4.
SESSION_BY_NUMBER = re.compile(r"(?<![\w-])[Ss]essions?[ -]\d+")
# Absolute machine paths used for data or runs, and the old run directory's name.
OUTSIDE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|root|tmp|Users)/|stream[-]runs")
# Relative paths in the documentation that climb out of their folder; they must stay in the
# repository unless they are the documented sibling folders of real clips (relative to the
# repository root). Code is not searched for them: tests send ../ paths as hostile input.
CLIMBING_PATH = re.compile(r"(?:\.\./)+[\w.-]+(?:/[\w.-]+)*")
ALLOWED_SIBLINGS = ("../shared/data/video",)
# Generated gRPC stubs: written by protoc, not by us.
GENERATED = re.compile(r"^serve/wire/.*_pb2")


def _info() -> dict:
    return json.loads((MODEL / "info.json").read_text())


def _first_screen() -> list[str]:
    """The README's first lines, fenced code blanked out (commands, not claims)."""
    lines, in_code = [], False
    for line in README.read_text().splitlines()[:FIRST_SCREEN_LINES]:
        fence = line.lstrip().startswith("```")
        lines.append("" if in_code or fence else line)
        in_code ^= fence
    return lines


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _written_as(written: str, value: float) -> bool:
    """Whether `written` is `value` rounded to the decimals it shows."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    return f"{value:.{decimals}f}" == written


def _table() -> tuple[list[str], dict[str, tuple[int, list[str]]]]:
    """The first table on the first screen: its header cells, and label -> (line, cells)."""
    lines = _first_screen()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    assert start is not None, "the README's first screen has no table of metrics"
    header, rows = _cells(lines[start]), {}
    for i in range(start + 1, len(lines)):
        if not lines[i].startswith("|"):
            break
        cells = _cells(lines[i])
        rows[cells[0]] = (i, cells[1:])
    return header, rows


def _checked_spans() -> list[tuple[int, int, int]]:
    """(line, start, end) of every number the metric tests below check."""
    lines = _first_screen()
    _, rows = _table()
    spans = [(i, 0, len(lines[i])) for label, (i, _) in rows.items() if label in TABLE_ROWS]
    for pattern in PROSE_METRICS:
        for i, line in enumerate(lines):
            joined = line + " " + (lines[i + 1] if i + 1 < len(lines) else "")
            for match in re.finditer(pattern, joined):
                if match.start(1) < len(line):
                    spans.append((i, match.start(1), match.end(1)))
    return spans


def _tracked_text_files() -> list[tuple[str, str]]:
    """(path, text) of every tracked text file but the generated stubs."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed, so the tracked files cannot be listed")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listing.returncode != 0:
        pytest.skip("not a git checkout (an installed copy), so there are no tracked files")
    files = []
    for name in sorted(filter(None, listing.stdout.decode().split("\0"))):
        path = ROOT / name
        if GENERATED.match(name) or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary: images, videos, checkpoints
        files.append((name, data.decode("utf-8", errors="replace")))
    return files


def _climbs_out(name: str, relative: str) -> bool:
    """Whether a ../ path in file `name` leaves the repository, the clips' siblings aside."""
    if relative.startswith(ALLOWED_SIBLINGS):
        return False
    target = (ROOT / name).parent.joinpath(relative).resolve()
    return not target.is_relative_to(ROOT)


def test_first_screen_table_matches_info_json():
    header, rows = _table()
    metrics = _info()["metrics"]
    expected_header = [rf"{n} chunks?\b" for n in TABLE_CHUNKS]
    assert len(header) == len(TABLE_CHUNKS) + 1 and all(
        re.match(pattern, cell) for pattern, cell in zip(expected_header, header[1:], strict=True)
    ), f"the table's columns should be {TABLE_CHUNKS} chunks ahead: {header}"
    wrong = []
    for label, key in TABLE_ROWS.items():
        assert label in rows, f"the README's first-screen table has no row {label!r}"
        _, cells = rows[label]
        assert len(cells) == len(TABLE_CHUNKS), f"row {label!r}: {cells}"
        for chunks, cell in zip(TABLE_CHUNKS, cells, strict=True):
            value = metrics[key.format(chunks)]
            if not _written_as(cell, value):
                wrong.append(f"{label}, {chunks} chunk(s) ahead: README {cell}, info.json {value}")
    assert not wrong, "\n".join(wrong)


def test_first_screen_prose_metrics_match_info_json():
    text = "\n".join(_first_screen())
    metrics = _info()["metrics"]
    wrong = []
    for pattern, key in PROSE_METRICS.items():
        found = re.findall(pattern, text)
        assert found, f"the first screen no longer quotes {key} ({pattern!r}): update this test"
        wrong += [
            f"{key}: README {n}, info.json {metrics[key]}"
            for n in found
            if not _written_as(n, metrics[key])
        ]
    assert not wrong, "\n".join(wrong)


def test_first_screen_quotes_no_unchecked_metric():
    lines = _first_screen()
    spans = _checked_spans()
    unchecked = [
        f"line {i + 1}: {match.group()!r} in {line.strip()!r}"
        for i, line in enumerate(lines)
        for match in METRIC_LIKE.finditer(line)
        if not any(j == i and a <= match.start() < b for j, a, b in spans)
    ]
    assert not unchecked, (
        "numbers on the README's first screen that no test compares with info.json (add them "
        "to TABLE_ROWS or PROSE_METRICS, or move them below the first screen):\n"
        + "\n".join(unchecked)
    )


def test_first_screen_names_the_shipped_model():
    assert _info()["name"] in "\n".join(_first_screen())


def test_readme_names_no_other_model():
    shipped = set(MODEL_STEPS.findall(_info()["name"]))
    others = sorted(set(MODEL_STEPS.findall(README.read_text())) - shipped)
    assert not others, f"the README names models other than the shipped {shipped}: {others}"


def test_first_screen_resolution_and_frame_rate_are_the_models():
    config = json.loads((MODEL / "config.json").read_text())
    text = " ".join(_first_screen())
    size, fps = config["image_size"], config["fps"]
    assert f"{size}x{size} pixels" in text
    assert f"{fps:g} frames per second" in text


def test_readme_is_at_most_300_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move detail to docs/"


def test_no_tracked_file_mentions_a_development_session_by_number():
    found = [
        f"{name}:{number}: {line.strip()[:120]}"
        for name, text in _tracked_text_files()
        for number, line in enumerate(text.splitlines(), 1)
        if SESSION_BY_NUMBER.search(line)
    ]
    assert not found, "write dates, not development sessions:\n" + "\n".join(found)


def test_no_tracked_file_names_a_path_outside_the_repository():
    found = [
        f"{name}:{number}: {line.strip()[:120]}"
        for name, text in _tracked_text_files()
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE_PATH.search(line)
        or (
            name.endswith(".md")
            and any(_climbs_out(name, m.group()) for m in CLIMBING_PATH.finditer(line))
        )
    ]
    assert not found, "paths outside the repository:\n" + "\n".join(found)
