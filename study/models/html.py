"""A text field for HTML that researchers write (an arm's intro, a study's consent text).

Every value is cleaned with nh3 (an allow-list HTML sanitiser) on its way into the database, by
`save()`, `bulk_create()` and `update()` alike, so templates may mark it safe: no script, no event
handler attribute, no `javascript:` link survives.
"""

import nh3
from django.db import models


def sanitize_html(html: str) -> str:
    """`html` with everything outside nh3's allow-list of tags and attributes removed."""
    return nh3.clean(html)


class SanitizedHTMLField(models.TextField):
    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value:
            value = sanitize_html(value)
            setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return sanitize_html(value) if value else value
