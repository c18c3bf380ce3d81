"""Tailing real files: identities, complete lines only, rotation order, truncation, deletion."""

from __future__ import annotations

import os
from pathlib import Path

from kubeling.logging.files import ContainerLog, Line, TailedFile, identify
from kubeling.logging.records import ContainerRef, parse_json_line
from tests.fixtures.dockerlogs import DockerContainer, NodeLogs


def texts(lines: list[Line]) -> list[str]:
    return [parse_json_line(line.raw).text for line in lines]


def drain(log: ContainerLog, max_bytes: int = 1 << 20) -> list[str]:
    """Read the chain to its end as the collector does: head first, committing after each read."""
    out: list[str] = []
    while True:
        log.retire_finished()
        head = log.head
        if head is None:
            return out
        lines = head.read(max_bytes)
        if not lines:
            return out
        out += texts(lines)
        head.offset = lines[-1].end


def chain(container: DockerContainer) -> ContainerLog:
    ref = ContainerRef(container.pod, container.namespace, container.name, container.id)
    log = ContainerLog(ref, str(container.link))
    log.follow(os.path.realpath(container.link), {})
    return log


def test_identity_waits_for_a_first_record_and_tells_files_apart(tmp_path: Path) -> None:
    node = NodeLogs(tmp_path)
    one, two = node.container("p", "ns", "c"), node.container("p", "ns", "c")
    fd = os.open(one.log_path, os.O_RDONLY)
    try:
        assert identify(fd, one.id) is None
        one.write("hello")
        first = identify(fd, one.id)
        one.write("more")
        assert identify(fd, one.id) == first  # later lines do not change it
    finally:
        os.close(fd)
    two.write("hello")
    fd = os.open(two.log_path, os.O_RDONLY)
    try:
        assert identify(fd, two.id) != first
    finally:
        os.close(fd)


def test_only_complete_lines_are_read(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("1", "2")
    rest = container.write_partial("3")
    tailed = TailedFile.open(str(container.log_path), container.id, {})
    assert tailed is not None
    lines = tailed.read(1 << 20)
    assert texts(lines) == ["1", "2"]
    tailed.offset = lines[-1].end
    assert tailed.read(1 << 20) == []
    container.append_raw(rest)
    assert texts(tailed.read(1 << 20)) == ["3"]
    tailed.close()


def test_line_ids_are_identity_and_offset(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("a", "b")
    tailed = TailedFile.open(str(container.log_path), container.id, {})
    assert tailed is not None
    first, second = tailed.read(1 << 20)
    assert first.id == f"{tailed.identity}:0" and second.id == f"{tailed.identity}:{first.end}"
    tailed.close()


def test_small_budgets_still_make_progress_on_long_lines(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("x" * 300_000, "short")
    tailed = TailedFile.open(str(container.log_path), container.id, {})
    assert tailed is not None
    [long] = tailed.read(1000)
    assert len(parse_json_line(long.raw).text) == 300_000
    tailed.offset = long.end
    assert texts(tailed.read(1000)) == ["short"]
    tailed.close()


def test_committed_offset_is_where_reading_resumes(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("1", "2", "3")
    first = TailedFile.open(str(container.log_path), container.id, {})
    assert first is not None
    lines = first.read(1 << 20)
    again = TailedFile.open(str(container.log_path), container.id, {first.identity: lines[0].end})
    assert again is not None and texts(again.read(1 << 20)) == ["2", "3"]
    first.close()
    again.close()


def test_rotation_finishes_the_old_file_before_the_new_one(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("1", "2")
    log = chain(container)
    assert drain(log) == ["1", "2"]
    container.write("3", "4")  # not read before the rotation
    container.rotate()
    container.write("5")
    log.follow(os.path.realpath(container.link), {})
    assert len(log.files) == 2
    assert drain(log) == ["3", "4", "5"]
    assert len(log.files) == 1 and log.head is not None and log.head.inode == container.log_path.stat().st_ino
    log.close()


def test_two_rotations_between_reads_lose_only_what_was_never_seen(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("1")
    log = chain(container)
    container.rotate()
    container.write("2")
    log.follow(os.path.realpath(container.link), {})
    container.rotate()
    container.write("3")
    log.follow(os.path.realpath(container.link), {})
    assert drain(log) == ["1", "2", "3"]  # every file was opened once, so all of them are finished
    log.close()


def test_truncation_starts_over_as_a_new_identity(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("1", "2")
    log = chain(container)
    assert drain(log) == ["1", "2"]
    old = log.head.identity if log.head else ""
    container.log_path.write_bytes(b"")
    container.write("3")
    log.follow(os.path.realpath(container.link), {})
    assert drain(log) == ["3"]
    assert log.head is not None and log.head.identity != old
    log.close()


def test_a_removed_container_is_read_to_its_end_then_retired(tmp_path: Path) -> None:
    container = NodeLogs(tmp_path).container("p", "ns", "c")
    container.write("1")
    log = chain(container)
    container.write("2", "3")
    container.remove()  # directory and link gone; our descriptor still reads it
    log.follow(os.path.realpath(container.link), {})
    assert log.gone
    assert drain(log) == ["1", "2", "3"]
    assert log.files == type(log.files)()
