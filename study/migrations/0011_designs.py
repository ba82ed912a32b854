"""Study designs: Study.design and design_options, Trial.details, and Stimulus.target (the class a stimulus
explains; existing stimuli explain their item's prediction)."""
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def target_the_prediction(apps, schema_editor):
    Stimulus = apps.get_model("study", "Stimulus")
    Item = apps.get_model("study", "Item")
    prediction = Item.objects.filter(pk=OuterRef("item")).values("model_prediction")[:1]
    Stimulus.objects.update(target=Subquery(prediction))


class Migration(migrations.Migration):
    dependencies = [("study", "0010_job_claim")]

    operations = [
        migrations.AddField(
            model_name="study", name="design",
            field=models.CharField(choices=[
                ("simulation", "Simulation: guess the model's prediction among options (the PV paper)"),
                ("agreement", "Agreement: is the model's prediction correct? (HIVE)"),
                ("distinction", "Distinction: which of k explanations is the predicted class's? (HIVE)")],
                default="simulation", editable=False, max_length=20)),
        migrations.AddField(model_name="study", name="design_options",
                            field=models.JSONField(blank=True, default=dict, editable=False)),
        migrations.AddField(model_name="trial", name="details", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="stimulus", name="target",
                            field=models.CharField(default="", help_text="The class the image explains.",
                                                   max_length=200),
                            preserve_default=False),
        migrations.RunPython(target_the_prediction, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="stimulus", name="stimulus_unique_item_arm"),
        migrations.AddConstraint(
            model_name="stimulus",
            constraint=models.UniqueConstraint(fields=("item", "arm", "target"),
                                               name="stimulus_unique_item_arm_target")),
    ]
