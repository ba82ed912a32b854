"""Labelled image sets for the study builder.

Two layouts are read:

- an image folder with a `labels.csv` (or a CSV file given directly) with the columns `image`
  (a path relative to the CSV's folder) and `labels` (one or more class names separated by `;`);
- the PASCAL VOC layout: `JPEGImages/*.jpg` and `Annotations/*.xml`, whose `<object><name>`s
  give the image's labels (a multi-label set).

Every problem raises `DatasetError` (a study.archives.ArchiveError) naming the file at fault. Image names
must stay inside the data set's folder (study.archives.inside): absolute paths, `..` and symbolic links are
refused, so that an upload can never name another file on the server.
"""

import csv
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from study.archives import ArchiveError, Problem, inside

LABEL_SEPARATOR = ";"
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


class DatasetError(ArchiveError, ValueError):
    """A labelled image set that cannot be used; the message names the file."""

    @staticmethod
    def describe(problems: tuple[Problem, ...]) -> str:
        """`file: problem` of each problem, separated by "; "."""
        return "; ".join(str(p) for p in problems)


@dataclass(frozen=True)
class LabelledImage:
    name: str  # unique within the data set, e.g. "2008_000123.jpg" or "shoes/img_01.png"
    path: Path
    labels: tuple[str, ...]  # sorted, without duplicates, never empty


@dataclass(frozen=True)
class Dataset:
    root: Path
    layout: str  # "csv" or "voc"
    images: tuple[LabelledImage, ...]  # sorted by name

    @property
    def classes(self) -> tuple[str, ...]:
        """Every label that occurs in the data set, sorted."""
        return tuple(sorted({label for image in self.images for label in image.labels}))


def load_dataset(path: str | Path, known_labels: Collection[str] | None = None) -> Dataset:
    """Read a CSV-labelled folder or a VOC-layout folder; every label must be in `known_labels`
    (the model's class names) when given."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        images, layout = _read_csv(path), "csv"
    elif (path / "labels.csv").is_file():
        images, layout = _read_csv(path / "labels.csv"), "csv"
    elif (path / "Annotations").is_dir() or (path / "JPEGImages").is_dir():
        images, layout = _read_voc(path), "voc"
    elif path.is_dir():
        raise DatasetError(
            f"{path}: no labels.csv and no VOC layout (JPEGImages/ + Annotations/) in this folder"
        )
    else:
        raise DatasetError(f"{path}: no such data set folder or CSV file")
    known = set(known_labels) if known_labels is not None else None
    seen = set()
    for image, source in images:
        if image.name in seen:
            raise DatasetError(f"{source}: {image.name} is listed twice")
        seen.add(image.name)
        if known is not None:
            unknown = sorted(set(image.labels) - known)
            if unknown:
                raise DatasetError(
                    f"{source}: unknown label(s) {unknown} for {image.name}; "
                    f"the model knows {len(known)} classes, e.g. {sorted(known)[:5]}"
                )
    root = path.parent if path.is_file() else path
    return Dataset(
        root=root, layout=layout, images=tuple(sorted((image for image, _ in images), key=lambda i: i.name))
    )


def _read_csv(csv_path: Path) -> list[tuple[LabelledImage, str]]:
    folder = csv_path.parent
    try:
        with csv_path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"image", "labels"} <= set(reader.fieldnames):
                raise DatasetError(
                    f"{csv_path}: needs a header with the columns 'image' and 'labels', "
                    f"got {reader.fieldnames}"
                )
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{csv_path}: cannot read it: {error}") from error
    if not rows:
        raise DatasetError(f"{csv_path}: no images listed (the data set is empty)")
    images = []
    for line, row in rows:
        source = f"{csv_path}, line {line}"
        name = (row["image"] or "").strip()
        labels = tuple(
            sorted({label.strip() for label in (row["labels"] or "").split(LABEL_SEPARATOR) if label.strip()})
        )
        if not name or not labels:
            raise DatasetError(f"{source}: needs an image name and at least one label")
        if CONTROL_CHARACTER.search(name + "".join(labels)):
            raise DatasetError(f"{source}: the image name or a label holds a control character (such as NUL)")
        image_path = inside(folder, name, source, DatasetError)
        if not image_path.is_file():
            raise DatasetError(f"{source}: image file {image_path} is missing")
        images.append((LabelledImage(name=name, path=image_path, labels=labels), source))
    return images


def _read_voc(root: Path) -> list[tuple[LabelledImage, str]]:
    annotations, image_dir = root / "Annotations", root / "JPEGImages"
    for folder in (annotations, image_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder of the VOC layout (JPEGImages/ + Annotations/)")
    xml_files = sorted(annotations.glob("*.xml"))
    if not xml_files:
        raise DatasetError(f"{annotations}: no .xml annotation files (the data set is empty)")
    images = []
    for xml_path in xml_files:
        try:
            tree = ET.parse(xml_path)
        except (ET.ParseError, OSError) as error:
            raise DatasetError(f"{xml_path}: broken XML: {error}") from error
        filename = (tree.findtext("filename") or f"{xml_path.stem}.jpg").strip()
        labels = tuple(sorted({(name.text or "").strip() for name in tree.findall("object/name")} - {""}))
        if not labels:
            raise DatasetError(f"{xml_path}: no <object><name> labels")
        if CONTROL_CHARACTER.search(filename + "".join(labels)):
            raise DatasetError(
                f"{xml_path}: the file name or a label holds a control character (such as NUL)")
        image_path = inside(image_dir, filename, str(xml_path), DatasetError)
        if not image_path.is_file():
            raise DatasetError(f"{xml_path}: image file {image_path} is missing")
        images.append((LabelledImage(name=filename, path=image_path, labels=labels), str(xml_path)))
    return images
