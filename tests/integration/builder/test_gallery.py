"""The explanations gallery: a real photo explained by the bundled EfficientNet-Lite0 through the
explainer cache, shown to researchers only."""

import pytest
import skimage.data
from django.contrib.auth import get_user_model

from study.building import demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_photo_gallery(monkeypatch, isolated_media):
    monkeypatch.setattr(
        demo, "gallery_photos", lambda: {"chelsea": (skimage.data.chelsea(), "scikit-image, CC0")}
    )
    monkeypatch.setattr(demo, "GALLERY_METHODS", ("gradcam", "layercam"))
    return demo.ensure_gallery(progress=False)


def test_gallery_records_top5_and_cached_maps(one_photo_gallery, settings):
    [entry] = one_photo_gallery
    labels = [label for label, _ in entry.top5]
    assert "cat" in labels[0]  # Chelsea is a tabby cat; EfficientNet-Lite0 knows
    assert [p for _, p in entry.top5] == sorted((p for _, p in entry.top5), reverse=True)
    assert [method for method, _ in entry.maps] == ["gradcam", "layercam"]
    for _, key in entry.maps:
        assert demo.gallery_file(key, "overlay").is_file() and demo.gallery_file(key, "mask").is_file()
    assert demo.read_gallery() == one_photo_gallery  # the manifest reads back the same
    assert demo.ensure_gallery(progress=False) == one_photo_gallery  # cached: nothing recomputed


def test_gallery_page_is_for_researchers_only(one_photo_gallery, client):
    assert client.get("/r/gallery/").status_code == 302  # to the login page
    user = get_user_model().objects.create_user("visitor", password="pw-visitor-123")
    client.force_login(user)
    assert client.get("/r/gallery/").status_code == 403
    user.is_staff = True
    user.save()
    page = client.get("/r/gallery/")
    assert page.status_code == 200
    assert one_photo_gallery[0].top5[0][0] in page.content.decode()
    key = one_photo_gallery[0].maps[0][1]
    image = client.get(f"/r/gallery/map/{key}/overlay.png")
    assert image.status_code == 200 and b"".join(image.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/r/gallery/photo/chelsea.png").status_code == 200
    assert client.get(f"/r/gallery/map/{'0' * 64}/overlay.png").status_code == 404
    assert client.get(f"/r/gallery/map/{key}/provenance.png").status_code == 404


def test_empty_gallery_says_how_to_fill_it(client, isolated_media):
    client.force_login(get_user_model().objects.create_user("r", password="pw-r-123456", is_staff=True))
    assert b"build_demo" in client.get("/r/gallery/").content
