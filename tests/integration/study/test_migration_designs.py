"""Migration 0011 (study designs): stimuli built before it explain their item's prediction, and old studies
are simulation studies."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE, AFTER = ("study", "0010_job_claim"), ("study", "0011_designs")


@pytest.mark.django_db(transaction=True)
def test_existing_stimuli_target_their_items_prediction():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    study = old.get_model("study", "Study").objects.create(slug="old", title="Old")
    arm = old.get_model("study", "Arm").objects.create(study=study, name="gradcam", technique="gradcam",
                                                       position=0, intro_html="<p>x</p>")
    Item = old.get_model("study", "Item")
    items = [Item.objects.create(study=study, position=i, name=f"i{i}.png", image=f"items/{i}.png",
                                 model_prediction=prediction, model_correct=True, options=[prediction])
             for i, prediction in enumerate(["Coat", "Bag"])]
    for item in items:
        old.get_model("study", "Stimulus").objects.create(item=item, arm=arm, image=f"stimuli/{item.pk}.png")

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    new = executor.loader.project_state([AFTER]).apps
    targets = dict(new.get_model("study", "Stimulus").objects.values_list("item__name", "target"))
    assert targets == {"i0.png": "Coat", "i1.png": "Bag"}
    assert new.get_model("study", "Study").objects.get(slug="old").design == "simulation"
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
