"""The one reader of uploaded sources: a folder or a zip archive, as entries by relative POSIX path.

A zip's entries are checked before anything is read (no absolute path, no '..', hidden entries and
macOS resource forks skipped, at most settings.UNPACKED_MAX_BYTES declared in all), and each entry
must unpack to its declared size and CRC-32 as it is read or copied in chunks of CHUNK_BYTES.
`inside` keeps a name read from a data file (a CSV, an annotation) inside its folder.

Every refusal is an `ArchiveError` listing each file at fault. The reader's users refine it
(study.gaze's GazeImportError, study.building's DatasetError) and pass their class as `error`, so that
their callers catch one type and read the message in their own words.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Self

from django.conf import settings

CHUNK_BYTES = 1024**2  # what copying an entry to disk holds in memory at a time
# What reading an entry may raise: a broken or lying archive, a file gone, a disk full.
UNREADABLE = (OSError, ValueError, zipfile.BadZipFile, zlib.error, RuntimeError, EOFError)


@dataclass(frozen=True)
class Problem:
    """What is wrong (`problem`) with one file of a source (`file`, or a label such as "(form)")."""

    file: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


class ArchiveError(Exception):
    """A source that cannot be used; `problems` lists every file at fault and why (empty when a refinement
    was raised with a message alone)."""

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = tuple(problems)

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> Self:
        """The error listing `problems`, its message in the words of `cls.describe`."""
        problems = tuple(problems)
        return cls(cls.describe(problems), problems)

    @staticmethod
    def describe(problems: tuple[Problem, ...]) -> str:
        """The message of an error listing `problems`: their count, then one line each."""
        lines = "\n".join(f"  {p}" for p in problems)
        return f"{len(problems)} problem(s):\n{lines}"


# A source: relative POSIX path -> a function returning the file's bytes (FileEntry and ZipEntry can also
# `copy_to` a path in chunks; `copy_entry` uses that where it can).
Entries = Mapping[str, Callable[[], bytes]]


class FileEntry:
    """One file of a folder source: call it for its bytes, or `copy_to(path)` to copy it in chunks."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self) -> bytes:
        return self.path.read_bytes()

    def copy_to(self, path: Path) -> str:
        """Copy the file to `path` in chunks of CHUNK_BYTES; returns its sha256 hex."""
        with open(self.path, "rb") as source:
            return _write_chunks(iter(lambda: source.read(CHUNK_BYTES), b""), path)


class ZipEntry:
    """One file of a zip archive: call it for its bytes, or `copy_to(path)` to unpack it in chunks of
    CHUNK_BYTES. Either way it must unpack to its declared size and CRC-32, or ValueError is raised."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
        self.archive, self.info = archive, info

    def __call__(self) -> bytes:
        return b"".join(self._chunks())

    def copy_to(self, path: Path) -> str:
        """Unpack the entry to `path`; returns its sha256 hex. On any error nothing is left at `path`."""
        return _write_chunks(self._chunks(), path)

    def _chunks(self) -> Iterator[bytes]:
        size, crc = 0, 0
        try:
            with self.archive.open(self.info) as source:  # zipfile stops at the declared size
                while chunk := source.read(CHUNK_BYTES):
                    size, crc = size + len(chunk), zlib.crc32(chunk, crc)
                    yield chunk
        except zipfile.BadZipFile:  # zipfile's own CRC check, when the stream ends where declared
            size = -1
        if size != self.info.file_size or crc != self.info.CRC:
            raise ValueError(
                f"does not unpack to the {self.info.file_size:,} bytes it declares (CRC mismatch)"
            )


def copy_entry(entry: Callable[[], bytes], path: Path) -> str:
    """Write a source's entry to `path`, in chunks when it has `copy_to`; returns its sha256 hex."""
    if isinstance(entry, (FileEntry, ZipEntry)):
        return entry.copy_to(path)
    data = entry()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _write_chunks(chunks: Iterator[bytes], path: Path) -> str:
    """Write `chunks` to `path` and return their sha256 hex; `path` is removed if anything fails."""
    digest = hashlib.sha256()
    try:
        with open(path, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def folder_entries(root: Path) -> dict[str, FileEntry]:
    """Every visible file under `root`, by relative POSIX path."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root).as_posix()))
    return {p.relative_to(root).as_posix(): FileEntry(p) for p in files}


@contextmanager
def zip_entries(
    archive: Path | IO[bytes], label: str, max_unpacked_bytes: int, error: type[ArchiveError]
) -> Iterator[dict[str, ZipEntry]]:
    """The files of a zip archive (path or file object, named `label` in problems), refusing unsafe names
    and archives that declare more than `max_unpacked_bytes` unpacked with `error`; each read also stops
    at the declared size."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as unreadable:
        raise error.of([Problem(label, f"not a readable zip archive ({unreadable})")]) from unreadable
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not _hidden(i.filename)]
        problems = [
            Problem(i.filename, "unsafe path in archive (absolute, or containing '..')")
            for i in infos
            if _unsafe(i.filename)
        ]
        declared = sum(i.file_size for i in infos)
        if declared > max_unpacked_bytes:
            problems.append(
                Problem(
                    label,
                    f"archive unpacks to {declared:,} bytes, past the limit of {max_unpacked_bytes:,} bytes",
                )
            )
        if problems:
            raise error.of(problems)
        yield {i.filename: ZipEntry(zf, i) for i in infos}


@contextmanager
def open_source(
    path: Path, error: type[ArchiveError]
) -> Iterator[dict[str, FileEntry | ZipEntry]]:
    """Entries of a folder or a .zip file at `path` (unpacking to at most `unpacked_limit()` bytes);
    anything else is refused with `error`."""
    path = Path(path)
    if path.is_dir():
        yield folder_entries(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        with zip_entries(path, path.name, unpacked_limit(), error) as entries:
            yield entries
    else:
        raise error.of([Problem(str(path), "not a folder or a zip archive")])


def unpacked_limit() -> int:
    """settings.UNPACKED_MAX_BYTES: what a zip may declare unpacked, its entries together."""
    return settings.UNPACKED_MAX_BYTES


def inside(folder: Path, name: str, source: str, error: type[ArchiveError] = ArchiveError) -> Path:
    """`folder / name`, refused with `error` naming `source` unless it stays inside `folder`: no absolute
    path, no `..`, no symbolic link on the way."""
    relative = Path(name)
    if relative.is_absolute():
        why = f"{name!r} is an absolute path; name files relative to the data set folder"
    elif ".." in relative.parts:
        why = f"{name!r} points outside the data set folder"
    elif (folder / relative).resolve() != folder.resolve().joinpath(*relative.parts):
        why = f"{name!r} is or passes through a symbolic link, which is not allowed"
    else:
        return folder / relative
    raise error.of([Problem(source, why)])


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p.startswith(".") and p not in (".", "..") for p in parts) or "__MACOSX" in parts


def _unsafe(name: str) -> bool:
    posix = name.replace("\\", "/")
    return posix.startswith("/") or bool(re.match(r"^[A-Za-z]:", posix)) or ".." in PurePosixPath(posix).parts
