"""Participants' images: served with long-lived caching headers, nothing outside the public folders."""
import pytest

from study.models import Item, Stimulus
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_item_and_stimulus_images_are_served_with_immutable_caching(client):
    make_study()
    item, stimulus = Item.objects.first(), Stimulus.objects.first()
    for field in (item.image, stimulus.image):
        response = client.get(field.url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"
        field.open("rb")
        assert b"".join(response.streaming_content) == field.read()
        field.close()


@pytest.mark.parametrize("path", [
    "items/../../../etc/passwd",
    "items/../secret.png",
    "stimuli/../gaze/upload.png",
    "items/..%2F..%2Fsecret.png",
    "gaze/upload.png",
    "items/missing.png",
    "items/notes.txt",
    "/etc/hosts",
])
def test_paths_outside_the_public_images_are_not_found(client, isolated_media, path):
    (isolated_media / "gaze").mkdir(parents=True)
    (isolated_media / "gaze" / "upload.png").write_bytes(b"private")
    (isolated_media / "items").mkdir()
    (isolated_media / "items" / "notes.txt").write_text("private")
    (isolated_media / "secret.png").write_bytes(b"private")
    assert client.get(f"/media/{path}").status_code == 404


def test_a_symlink_out_of_the_public_folder_is_not_followed(client, isolated_media, tmp_path):
    (tmp_path / "outside.png").write_bytes(b"private")
    (isolated_media / "items").mkdir(parents=True)
    (isolated_media / "items" / "link.png").symlink_to(tmp_path / "outside.png")
    assert client.get("/media/items/link.png").status_code == 404
