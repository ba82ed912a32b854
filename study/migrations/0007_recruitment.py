# Issue 11 (participant flow): preview, recruitment ids, consent contact and ethics texts, withdrawal.

import study.models.html
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('study', '0006_study_settings'),
    ]

    operations = [
        migrations.AddField(
            model_name='participant',
            name='external_id',
            field=models.CharField(blank=True, default='', editable=False, max_length=220),
        ),
        migrations.AddField(
            model_name='participant',
            name='is_preview',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='study',
            name='contact_text',
            field=study.models.html.SanitizedHTMLField(blank=True, help_text='Who to contact about the study (shown with the consent).'),
        ),
        migrations.AddField(
            model_name='study',
            name='ethics_text',
            field=study.models.html.SanitizedHTMLField(blank=True, help_text='The ethics approval (shown with the consent).'),
        ),
        migrations.AddField(
            model_name='study',
            name='withdrawal_policy',
            field=models.CharField(choices=[('keep', 'Keep the answers, flagged withdrawn'), ('delete', 'Delete the answers')], default='keep', help_text='What happens to the answers of a participant who withdraws during the study.', max_length=10),
        ),
        migrations.AddConstraint(
            model_name='participant',
            constraint=models.UniqueConstraint(condition=models.Q(('external_id', ''), _negated=True), fields=('study', 'external_id'), name='participant_unique_external_id'),
        ),
    ]
