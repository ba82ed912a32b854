"""Every page names a favicon that exists, and /favicon.ico leads to it (pages that link none ask there)."""
import re

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static

from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_pages_link_a_favicon_that_exists_and_favicon_ico_leads_to_it(client):
    make_study()
    icon = static("study/favicon.svg")
    assert finders.find("study/favicon.svg")
    for url in ("/s/s1/", "/accounts/login/"):
        links = re.findall(r'<link rel="icon" href="([^"]+)"', client.get(url).content.decode())
        assert links == [icon]
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response.url == icon
