"""The admin lists gaze rows read-only; a data set's description stays editable."""

import pytest
from django.urls import reverse

from study.gaze.importer import import_gaze_path
from tests.integration.gaze.helpers import good_files, write_tree

pytestmark = pytest.mark.django_db


def test_admin_lists_gaze_rows_and_refuses_adding_them(admin_client, tmp_path, settings):
    settings.SECURE_SSL_REDIRECT = False
    dataset = import_gaze_path("adm", write_tree(tmp_path / "src", good_files(2)))
    for model in ("gazedataset", "gazestimulus", "gazemap", "gazefixations"):
        assert admin_client.get(reverse(f"admin:study_{model}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:study_{model}_add")).status_code == 403
    page = admin_client.get(reverse("admin:study_gazestimulus_changelist")).content.decode()
    assert dataset.stimuli.get(name="s0").sha256 in page
    change = admin_client.get(reverse("admin:study_gazedataset_change", args=[dataset.pk])).content.decode()
    assert 'name="description"' in change and 'name="name"' not in change
