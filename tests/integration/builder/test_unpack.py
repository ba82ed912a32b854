"""The builder unpacks a data-set zip entry by entry in chunks: memory stays bounded, and an entry that does
not unpack to its declared size and CRC-32 is refused by name, leaving nothing behind."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest

from study.building.builder import unpack_dataset
from study.building.datasets import DatasetError

MiB = 1024**2


def test_a_64_mib_entry_is_unpacked_in_chunks_of_bounded_memory(tmp_path):
    archive = tmp_path / "zeros.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("images/zeros.bin", "w") as out:
        for _ in range(64):  # written in chunks, so that the test itself never holds the entry
            out.write(bytes(MiB))
    assert archive.stat().st_size < MiB  # highly compressible: a bomb in miniature

    tracemalloc.start()
    try:
        root = unpack_dataset(archive, tmp_path / "unpacked", "zeros.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    unpacked = root / "zeros.bin"
    assert root == tmp_path / "unpacked" / "images"
    assert unpacked.stat().st_size == 64 * MiB
    with open(unpacked, "rb") as f:
        assert not any(any(chunk) for chunk in iter(lambda: f.read(MiB), b""))
    assert peak < 8 * MiB, f"unpacking held {peak / MiB:.1f} MiB at its peak"


def _patched(data: bytes, local_offset: int, central_offset: int, value: int) -> bytes:
    """`data` with a 4-byte field of the last entry's local and central headers set to `value`."""
    patched = bytearray(data)
    local, central = patched.rindex(b"PK\x03\x04"), patched.rindex(b"PK\x01\x02")
    patched[local + local_offset : local + local_offset + 4] = value.to_bytes(4, "little")
    patched[central + central_offset : central + central_offset + 4] = value.to_bytes(4, "little")
    return bytes(patched)


@pytest.mark.parametrize(
    "lie, local_offset, central_offset, value",
    [
        ("CRC-32", 14, 16, 0x12345678),
        ("a smaller size: more data than declared", 22, 24, 100),
        ("a larger size: less data than declared", 22, 24, 9000),
    ],
)
def test_an_entry_that_lies_is_refused_by_name_and_nothing_is_left(tmp_path, lie, local_offset,
                                                                    central_offset, value):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("photos/a.txt", b"fine")
        zf.writestr("photos/b.txt", b"B" * 5000)
    archive = tmp_path / "photos.zip"
    archive.write_bytes(_patched(buffer.getvalue(), local_offset, central_offset, value))
    folder = tmp_path / "unpacked"

    with pytest.raises(DatasetError) as caught:
        unpack_dataset(archive, folder, "photos.zip")

    assert str(caught.value).startswith("photos.zip: photos/b.txt: does not unpack to the")
    assert "(CRC mismatch)" in str(caught.value)
    assert not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.zip"]


def test_an_archive_of_good_entries_unpacks_as_it_was_packed(tmp_path):
    files = {"set/labels.csv": b"file,label\na.txt,cat\n", "set/images/a.txt": bytes(range(256)) * 5000}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    archive = tmp_path / "set.zip"
    archive.write_bytes(buffer.getvalue())
    root = unpack_dataset(archive, tmp_path / "unpacked", "set.zip")
    assert root == tmp_path / "unpacked" / "set"
    assert {p.relative_to(tmp_path / "unpacked").as_posix(): p.read_bytes()
            for p in (tmp_path / "unpacked").rglob("*") if p.is_file()} == files
