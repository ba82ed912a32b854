"""Both data-set layouts, and bad data sets rejected with the file at fault named."""

from pathlib import Path

import pytest

from study.building.datasets import DatasetError, load_dataset
from tests.integration.builder.conftest import voc_xml


def test_csv_folder_reads_every_image_with_its_labels(csv_dataset, fashion, class_names):
    dataset = load_dataset(csv_dataset, known_labels=class_names)
    assert dataset.layout == "csv" and len(dataset.images) == 60
    first = dataset.images[0]
    assert first.name == "img_000.png" and first.path.is_file()
    assert first.labels == (class_names[fashion["y_test"][0]],)


def test_csv_file_given_directly_and_multiple_labels(tmp_path, csv_dataset):
    (csv_dataset / "multi.csv").write_text("image,labels\nimg_000.png,Bag; Coat ;Bag\n")
    dataset = load_dataset(csv_dataset / "multi.csv")
    assert [image.labels for image in dataset.images] == [("Bag", "Coat")]


def test_voc_layout_gives_multi_label_sets_from_object_names(voc_dataset, fashion, class_names):
    dataset = load_dataset(voc_dataset, known_labels=class_names)
    assert dataset.layout == "voc" and len(dataset.images) == 60
    label = int(fashion["y_test"][0])
    assert dataset.images[0].labels == tuple(sorted([class_names[label], class_names[(label + 1) % 10]]))
    assert len(dataset.images[1].labels) == 1
    assert set(dataset.classes) <= set(class_names)


def test_missing_image_names_the_csv_line_and_the_file(csv_dataset):
    (csv_dataset / "img_005.png").unlink()
    with pytest.raises(DatasetError, match=r"labels\.csv, line 7: image file .*img_005\.png is missing"):
        load_dataset(csv_dataset)


def test_missing_voc_image_names_the_annotation(voc_dataset):
    (voc_dataset / "JPEGImages" / "000004.jpg").unlink()
    with pytest.raises(DatasetError, match=r"000004\.xml: image file .*000004\.jpg is missing"):
        load_dataset(voc_dataset)


def test_unknown_label_names_the_file(csv_dataset, voc_dataset, class_names):
    text = (csv_dataset / "labels.csv").read_text().replace("img_002.png,", "img_002.png,Hat;", 1)
    (csv_dataset / "labels.csv").write_text(text)
    with pytest.raises(
        DatasetError, match=r"labels\.csv, line 4: unknown label\(s\) \['Hat'\] for img_002\.png"
    ):
        load_dataset(csv_dataset, known_labels=class_names)
    (voc_dataset / "Annotations" / "000003.xml").write_text(voc_xml("000003.jpg", ["aeroplane"]))
    with pytest.raises(DatasetError, match=r"000003\.xml: unknown label\(s\) \['aeroplane'\]"):
        load_dataset(voc_dataset, known_labels=class_names)


def test_broken_xml_names_the_file(voc_dataset):
    (voc_dataset / "Annotations" / "000002.xml").write_text("<annotation><object><name>Bag</name>")
    with pytest.raises(DatasetError, match=r"000002\.xml: broken XML"):
        load_dataset(voc_dataset)


@pytest.mark.parametrize("layout", ["plain", "voc", "csv"])
def test_empty_data_sets_name_the_folder(tmp_path, layout):
    if layout == "voc":
        (tmp_path / "JPEGImages").mkdir()
        (tmp_path / "Annotations").mkdir()
        expected = r"Annotations: no \.xml annotation files"
    elif layout == "csv":
        (tmp_path / "labels.csv").write_text("image,labels\n")
        expected = r"labels\.csv: no images listed"
    else:
        expected = "no labels.csv and no VOC layout"
    with pytest.raises(DatasetError, match=expected):
        load_dataset(tmp_path)


def test_csv_without_the_needed_columns_and_duplicates(csv_dataset):
    (csv_dataset / "labels.csv").write_text("file,label\nimg_000.png,Bag\n")
    with pytest.raises(DatasetError, match="needs a header with the columns 'image' and 'labels'"):
        load_dataset(csv_dataset)
    (csv_dataset / "labels.csv").write_text("image,labels\nimg_000.png,Bag\nimg_000.png,Coat\n")
    with pytest.raises(DatasetError, match=r"line 3: img_000\.png is listed twice"):
        load_dataset(csv_dataset)


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(DatasetError, match="no such data set folder"):
        load_dataset(tmp_path / "nowhere")


@pytest.fixture
def foreign_image(tmp_path, fashion) -> Path:
    """Another researcher's private image, outside the data set's folder."""
    from PIL import Image

    path = tmp_path / "private" / "stimulus.png"
    path.parent.mkdir()
    Image.fromarray(fashion["x_test"][0]).save(path)
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_csv_naming_a_file_outside_the_data_set_is_refused_with_its_line(csv_dataset, foreign_image, kind):
    name = {"absolute": str(foreign_image), "dotdot": "../private/stimulus.png", "symlink": "link.png"}[kind]
    if kind == "symlink":
        (csv_dataset / "link.png").symlink_to(foreign_image)
    with (csv_dataset / "labels.csv").open("a") as f:
        f.write(f"{name},Bag\n")
    problem = {"absolute": "is an absolute path", "dotdot": "points outside the data set folder",
               "symlink": "is or passes through a symbolic link"}[kind]
    with pytest.raises(DatasetError, match=rf"labels\.csv, line 62: '.*' {problem}"):
        load_dataset(csv_dataset)


def test_a_symlinked_sub_folder_is_refused(csv_dataset, foreign_image):
    (csv_dataset / "sub").symlink_to(foreign_image.parent)
    with (csv_dataset / "labels.csv").open("a") as f:
        f.write("sub/stimulus.png,Bag\n")
    with pytest.raises(DatasetError, match=r"line 62: 'sub/stimulus\.png' is or passes through a symbolic link"):
        load_dataset(csv_dataset)


@pytest.mark.parametrize("filename", ["ABSOLUTE", "../../private/stimulus.png"])
def test_voc_filename_outside_the_data_set_is_refused(voc_dataset, foreign_image, filename):
    filename = str(foreign_image) if filename == "ABSOLUTE" else filename
    (voc_dataset / "Annotations" / "000003.xml").write_text(voc_xml(filename, ["Bag"]))
    with pytest.raises(DatasetError, match=r"000003\.xml: '.*' (is an absolute path|points outside)"):
        load_dataset(voc_dataset)


def test_images_in_sub_folders_are_still_read(csv_dataset):
    (csv_dataset / "shoes").mkdir()
    (csv_dataset / "img_000.png").rename(csv_dataset / "shoes" / "img_000.png")
    text = (csv_dataset / "labels.csv").read_text().replace("img_000.png", "shoes/./img_000.png", 1)
    (csv_dataset / "labels.csv").write_text(text)
    dataset = load_dataset(csv_dataset)
    assert dataset.images[-1].name == "shoes/./img_000.png" and dataset.images[-1].path.is_file()
