"""Small real studies for tests: arms, items with PNG images, stimuli, options."""
import io
import random

from django.core.files.base import ContentFile
from PIL import Image

from study.models import Arm, Item, Stimulus, Study
from study.models.study import CANT_TELL
from study.survey.designs import DESIGNS
from study.survey.designs.attention import BLURRED

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def png_bytes(seed: int, size: int = 32) -> bytes:
    """A small noise PNG, different for every seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_study(slug: str = "s1", n_correct: int = 3, n_incorrect: int = 2, techniques=("gradcam", "pv"),
               status: str = Study.Status.OPEN, n_attention: int = 0, design: str = Study.Design.SIMULATION,
               design_options: dict | None = None, attention_block: dict | None = None, **fields) -> Study:
    """An open study of `design` (with `design_options`) with one arm per technique (CONTROL: an arm without
    stimuli, but for its design's control_targets) and n_correct + n_incorrect (+ attention) items, each with
    the stimuli its design explains and the Item.details its design keeps (32 x 32 images). With
    `attention_block` (the attention design's options) every item but the attention checks also has a blurred
    image in every arm, shown before the questions.

    No limit of new participants per client unless given: tests and benches start many from one address."""
    fields.setdefault("new_participants_per_client_hour", 0)
    checked = DESIGNS[design].check_options(design_options or {})
    attention = DESIGNS[Study.Design.ATTENTION]
    block = {} if attention_block is None else attention.check_options(attention_block)
    study = Study.objects.create(slug=slug, title=f"Study {slug}", status=status, design=design,
                                 design_options=checked, attention_block=block, **fields)
    arms = [
        Arm.objects.create(study=study, name=technique, technique=technique, position=i,
                           intro_html=f"<p>This is how {technique} explanations look.</p>")
        for i, technique in enumerate(techniques)
    ]
    rng = random.Random(slug)
    # A design with blocks (learn_predict) sets its own items: each block's right, then wrong ones.
    blocks = DESIGNS[design].blocks(checked)
    plan = ([(details, right) for details, n_right, n_wrong in blocks
             for right in [True] * n_right + [False] * n_wrong] if blocks
            else [({}, position < n_correct) for position in range(n_correct + n_incorrect + n_attention)])
    n_correct, n_incorrect = (len(plan), 0) if blocks else (n_correct, n_incorrect)
    for position, (details, correct) in enumerate(plan):
        truth = rng.choice(CLASSES)
        prediction = truth if correct else rng.choice([c for c in CLASSES if c != truth])
        others = [c for c in CLASSES if c not in {truth, prediction}]
        options = sorted({prediction, truth, *rng.sample(others, 4)} - {prediction})[:3]
        ranked = [prediction, *(c for c in CLASSES if c != prediction)]
        options = DESIGNS[design].item_options(checked, ranked, [prediction, *options, CANT_TELL])
        check = position >= n_correct + n_incorrect
        in_block = bool(block) and not check
        image = Image.open(io.BytesIO(png_bytes(position)))
        details |= DESIGNS[design].item_details(image, image)
        if in_block:
            details |= attention.item_details(image, image)
        item = Item(study=study, position=position, name=f"img{position:03d}.png", model_prediction=prediction,
                    true_labels=[truth], model_correct=correct, options=options, is_attention_check=check,
                    details=details,
                    expected_option=options[1] if check and design == Study.Design.SIMULATION else "")
        item.image.save(f"{slug}-{position}.png", ContentFile(png_bytes(position)), save=False)
        item.save()
        targets = DESIGNS[design].explained_classes(prediction, options, item.details)
        # a control arm: the image alone, or its design's control_targets (attention: the blurred image)
        for arm in arms:
            shown = list(DESIGNS[design].control_targets if arm.is_control else targets)
            for j, target in enumerate(shown + [BLURRED] * in_block):
                stimulus = Stimulus(item=item, arm=arm, target=target)
                stimulus.image.save(f"{slug}-{position}-{arm.technique}-{j}.png",
                                    ContentFile(png_bytes(1000 * (arm.position + 1) + 100_000 * j + position)),
                                    save=False)
                stimulus.save()
    return study
