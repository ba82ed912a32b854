"""The study builder form. Each field's errors name the field."""

from __future__ import annotations

import json

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from explainers import ACCEPTED_CHECKPOINTS, BUNDLED, METHODS
from study.models import Study
from study.models.study import CONTROL
from study.building.options import DISTRACTORS, TOPK_MIN_CLASSES, distractors_problem, parse_class_list
from study.survey.designs import DESIGNS
from study.survey.designs.attention import BOUNDS as ATTENTION
from study.survey.designs.attention import DEFAULT_TASK, MAX_TASK
from study.survey.designs.distinction import DEFAULTS as DISTINCTION_DEFAULTS
from study.survey.designs.distinction import MAX_K, MIN_K
from study.survey.designs.learn_predict import DEFAULTS as LP_DEFAULTS
from study.survey.designs.learn_predict import LIMITS as LP_LIMITS
from study.survey.questionnaire import MAX_CONFIDENCE_LEVELS, QuestionnaireError, parse_questionnaire

# Architectures a researcher may pick with an uploaded checkpoint (torchvision names, and the bundled net).
TORCHVISION_ARCHS = ("resnet18", "resnet50", "vgg16", "densenet121", "mobilenet_v3_large", "efficientnet_b0",
                     "convnext_tiny", "small_cnn")
RENDERING_LABELS = {"white_mask": "White mask (the image where the map is high, white elsewhere)",
                    "jet": "Jet overlay (a colour map blended over the image)"}


def rendering_choices() -> list[tuple[str, str]]:
    """The build's renderings with their labels (called when a form is made: the build service loads torch)."""
    from study.building.rendering import RENDERINGS

    return [(key, RENDERING_LABELS[key]) for key in RENDERINGS]


class StudyBuilderForm(forms.Form):
    """What `build_study` needs, as the builder page asks for it; the files are only named here, the
    build job reads them."""

    slug = forms.SlugField(max_length=50, help_text="The study's address: /s/SLUG/.")
    title = forms.CharField(max_length=200, required=False)
    dataset = forms.FileField(label="Labelled images (zip)",
                              help_text="A zip holding labels.csv (image, labels; labels separated by ;) "
                                        "beside the images, or the VOC layout (JPEGImages/ + Annotations/).")
    model = forms.ChoiceField(choices=[(BUNDLED, "EfficientNet-Lite0 (bundled, ImageNet classes)")]
                              + [(arch, arch) for arch in TORCHVISION_ARCHS])
    checkpoint = forms.FileField(
        required=False,
        help_text=f"The weights of the chosen architecture: {ACCEPTED_CHECKPOINTS}. A pickled full model is "
                  "refused (reading it could run code): save its state_dict() instead.")
    class_names = forms.FileField(required=False, help_text="A text file: one class name a line, in the "
                                                            "order of the model's outputs.")
    input_size = forms.IntegerField(initial=224, validators=[MinValueValidator(8), MaxValueValidator(1024)])
    multi_label = forms.BooleanField(
        required=False,
        help_text="Sigmoid scores: correct means the predicted set equals the labels, incorrect that none is "
                  "predicted.")
    threshold = forms.FloatField(initial=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
                                 help_text="Score at which a multi-label model predicts a class.")
    decoder = forms.FileField(
        required=False, label="PV decoder (optional)",
        help_text="A PV decoder checkpoint trained elsewhere for this model (`manage.py train_pv_decoder`: "
                  "a state dict, read with torch.load(weights_only=True), never unpickled). Empty: a decoder "
                  "is trained on the uploaded images, and the build stops if it does not beat their mean image.")
    decoder_layer = forms.CharField(
        required=False, max_length=200, label="Layer the PV decoder inverts",
        help_text="A dotted module name; empty: the layer the explanations are taken from (the last "
                  "convolutional block), as the PV paper does.")
    design = forms.ChoiceField(
        choices=Study.Design.choices, initial=Study.Design.SIMULATION, required=False,
        help_text="What each question shows and asks (see the README's study designs).")
    panels = forms.IntegerField(
        initial=DISTINCTION_DEFAULTS["k"], required=False, validators=[MinValueValidator(MIN_K), MaxValueValidator(MAX_K)],
        label="Panels per image (distinction)",
        help_text="k: the explanations of the model's k most likely classes, side by side; chance is 1/k.")
    show_labels = forms.BooleanField(required=False, label="Show the class names on the panels (distinction)")
    ask_correct_class = forms.BooleanField(
        required=False, label='Also ask "Which class do you think is correct?" (distinction, with class names)')
    agreement_scale = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Agreement scale (agreement)",
        help_text="One label per line, most confident that the prediction is correct first; an even number of "
                  "points. Empty: HIVE's four points.")
    attention_sigma = forms.IntegerField(
        initial=ATTENTION["sigma"][0], required=False, label="Blur sigma, source-image pixels (attention)",
        validators=[MinValueValidator(ATTENTION["sigma"][1]), MaxValueValidator(ATTENTION["sigma"][2])])
    attention_radius = forms.IntegerField(
        initial=ATTENTION["radius"][0], required=False, label="Bubble radius, source-image pixels (attention)",
        validators=[MinValueValidator(ATTENTION["radius"][1]), MaxValueValidator(ATTENTION["radius"][2])])
    attention_min_clicks = forms.IntegerField(initial=ATTENTION["min_clicks"][0], required=False,
                                              label="Clicks needed per image (attention)")
    attention_max_clicks = forms.IntegerField(initial=ATTENTION["max_clicks"][0], required=False,
                                              label="Most clicks per image (attention)")
    attention_time_limit_s = forms.IntegerField(
        initial=0, required=False, label="Time limit per image, seconds (attention)",
        help_text="0: none; else 5 to 600. Once it runs out, Next is enabled with fewer clicks.")
    attention_task = forms.CharField(required=False, max_length=MAX_TASK, label="Task shown (attention)",
                                     initial=DEFAULT_TASK)
    attention_block = forms.BooleanField(
        required=False, label="Start with a BubbleView block (another design)",
        help_text="Before the first question, each image blurred, to click on as in the attention design, "
                  "with the attention fields' options: the clicks become a gaze data set of the same "
                  "participants.")
    rounds = forms.IntegerField(
        initial=LP_DEFAULTS["rounds"], required=False, label="Rounds (learn_predict)",
        validators=[MinValueValidator(LP_LIMITS["rounds"][0]), MaxValueValidator(LP_LIMITS["rounds"][1])],
        help_text="Each round: a training block (decision and explanation), then a test block (predict the "
                  "decision). The design sets the numbers of items: n_correct and n_incorrect are not used.")
    train_per_round = forms.IntegerField(
        initial=LP_DEFAULTS["train_per_round"], required=False,
        label="Training images per round (learn_predict)",
        validators=[MinValueValidator(1), MaxValueValidator(LP_LIMITS["train_per_round"][1])])
    test_per_round = forms.IntegerField(
        initial=LP_DEFAULTS["test_per_round"], required=False, label="Test images per round (learn_predict)",
        validators=[MinValueValidator(1), MaxValueValidator(LP_LIMITS["test_per_round"][1])])
    error_share = forms.FloatField(
        initial=LP_DEFAULTS["error_share"], required=False,
        label="Share of model errors per block (learn_predict)",
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="Rounded per block.")
    feedback = forms.BooleanField(
        required=False, label="After each prediction, say whether it was right (learn_predict)")
    arms = forms.MultipleChoiceField(
        choices=[(m, m) for m in METHODS] + [(CONTROL, "No explanation (control)")],
        widget=forms.CheckboxSelectMultiple, initial=["gradcam", "pv"],
        help_text="One arm per method; the control arm's participants see the image alone.")
    rendering = forms.ChoiceField(
        choices=rendering_choices,
        help_text="How a map becomes a stimulus (a PV arm shows its decoder's picture).")
    n_correct = forms.IntegerField(initial=16, validators=[MinValueValidator(0), MaxValueValidator(500)],
                                   label="Items the model got right")
    n_incorrect = forms.IntegerField(initial=14, validators=[MinValueValidator(0), MaxValueValidator(500)],
                                     label="Items the model got wrong")
    distractors = forms.ChoiceField(
        choices=[("auto", f"auto: topk for models with more than {TOPK_MIN_CLASSES} classes, "
                          "random otherwise")]
        + [(mode, f"{mode}: {text}") for mode, text in DISTRACTORS.items()],
        initial="auto", required=False, label="Distractor options",
        help_text="How the options are filled up after the prediction and the other true labels.")
    distractor_classes = forms.FileField(
        required=False, label="Distractor class subset",
        help_text="A text file of class names, one per line, each one of the model's classes (for Subset).")
    seed = forms.IntegerField(initial=0, validators=[MinValueValidator(0), MaxValueValidator(2**31 - 1)])
    attention_checks = forms.IntegerField(initial=0, validators=[MinValueValidator(0), MaxValueValidator(20)])
    attention_positions = forms.CharField(required=False, help_text="1-based question positions, comma "
                                                                    "separated (empty: spread evenly).")
    confidence_rating = forms.IntegerField(
        initial=0, validators=[MinValueValidator(0), MaxValueValidator(MAX_CONFIDENCE_LEVELS)],
        help_text=f"Ask how confident the participant is with each answer, on a scale 1..N (N from 2 to "
                  f"{MAX_CONFIDENCE_LEVELS}; 0: do not ask).")
    questionnaire = forms.CharField(
        required=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 6}),
        help_text='Questionnaire blocks before or after the questions, as JSON (see the README), e.g. '
                  '{"blocks": [{"placement": "before", "title": "About you", "demographics": ["age", "gender"]}]}')

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Study.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"a study {slug!r} exists already; choose another slug")
        return slug

    def clean_dataset(self):
        upload = self.cleaned_data["dataset"]
        if not upload.name.lower().endswith(".zip"):
            raise forms.ValidationError(f"{upload.name}: upload a .zip archive")
        return upload

    def clean_decoder(self):
        upload = self.cleaned_data["decoder"]
        if upload and not upload.name.lower().endswith((".pt", ".pth")):
            raise forms.ValidationError(f"{upload.name}: upload a .pt decoder checkpoint")
        return upload

    def clean_confidence_rating(self) -> int:
        levels = self.cleaned_data["confidence_rating"]
        if levels == 1:
            raise forms.ValidationError("a scale needs at least 2 levels (0: do not ask)")
        return levels

    def clean_questionnaire(self) -> dict | None:
        text = self.cleaned_data["questionnaire"].strip()
        if not text:
            return None
        try:
            document = json.loads(text)
            parse_questionnaire(document)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"not valid JSON: {error}") from None
        except QuestionnaireError as error:
            raise forms.ValidationError(str(error)) from None
        return document

    def clean_distractors(self) -> str:
        return self.cleaned_data["distractors"] or "auto"

    def clean_distractor_classes(self) -> tuple[str, ...]:
        upload = self.cleaned_data["distractor_classes"]
        if not upload:
            return ()
        try:
            names = parse_class_list(b"".join(upload.chunks()).decode("utf-8"))
        except UnicodeDecodeError:
            raise forms.ValidationError(f"{upload.name}: not UTF-8 text") from None
        if not names:
            raise forms.ValidationError(f"{upload.name}: no class names (one per line)")
        return names

    def clean_attention_positions(self) -> tuple[int, ...]:
        text = self.cleaned_data["attention_positions"].strip()
        try:
            return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        except ValueError:
            raise forms.ValidationError(f"give whole numbers separated by commas, not {text!r}") from None

    def clean(self) -> dict:
        data = super().clean()
        if "design" in data and "panels" in data:
            self._clean_design(data)
        if data.get("model") not in (None, BUNDLED):
            for name in ("checkpoint", "class_names"):
                if not data.get(name):
                    self.add_error(name, f"needed for {data['model']}: upload it")
        if "distractors" in data and "distractor_classes" in data:
            problem = distractors_problem(data["distractors"], data["distractor_classes"])
            if problem:
                self.add_error("distractor_classes", problem)
        if data.get("n_correct") == 0 and data.get("n_incorrect") == 0:
            self.add_error("n_correct", "ask for at least one item")
        checks, positions = data.get("attention_checks"), data.get("attention_positions")
        if checks is not None and positions is not None and "n_correct" in data and "n_incorrect" in data:
            total = data["n_correct"] + data["n_incorrect"] + checks
            if positions and (len(positions) != checks or len(set(positions)) != checks
                              or not all(1 <= p <= total for p in positions)):
                self.add_error("attention_positions",
                               f"give {checks} distinct positions between 1 and {total}")
        return data

    def _clean_design(self, data: dict) -> None:
        """Put the design's options, checked, in data["design_options"]."""
        data["design"] = data["design"] or Study.Design.SIMULATION
        design = DESIGNS[data["design"]]
        options = {}
        if data["design"] == Study.Design.DISTINCTION:
            options = {"k": data["panels"] or DISTINCTION_DEFAULTS["k"], "show_labels": data["show_labels"],
                       "ask_correct_class": data["ask_correct_class"]}
        elif data["design"] == Study.Design.LEARN_PREDICT:
            options = {name: LP_DEFAULTS[name] if data.get(name) is None else data[name]
                       for name in LP_DEFAULTS}
        elif data["design"] == Study.Design.AGREEMENT and data["agreement_scale"].strip():
            options = {"scale": [line.strip() for line in data["agreement_scale"].splitlines() if line.strip()]}
        elif data["design"] == Study.Design.ATTENTION:
            options = self._attention_options(data)
        try:
            data["design_options"] = design.check_options(options)
        except ValueError as error:
            self.add_error("design", str(error))
        if not data.get("attention_block"):
            data["attention_block"] = None
        elif data["design"] == Study.Design.ATTENTION:
            self.add_error("attention_block", "the attention design is clicks already; untick the block")
        else:
            try:
                data["attention_block"] = DESIGNS[Study.Design.ATTENTION].check_options(
                    self._attention_options(data))
            except ValueError as error:
                self.add_error("attention_block", str(error))
        if data.get("attention_checks") and not design.allows_attention_checks:
            self.add_error("attention_checks", f"the {data['design']} design takes no attention checks")
        if CONTROL in data.get("arms", ()) and not design.allows_control:
            self.add_error("arms", f"the {data['design']} design has no control arm: its panels are the "
                                   "explanations")
        if not design.allows_explanations and set(data.get("arms", ())) - {CONTROL}:
            self.add_error("arms", f"the {data['design']} design shows no explanations: choose the control arm "
                                   "alone")

    @staticmethod
    def _attention_options(data: dict) -> dict:
        """The attention design's options as the attention fields give them (the empty ones left out)."""
        options = {name: data[f"attention_{name}"] for name in ATTENTION
                   if data.get(f"attention_{name}") is not None}
        if (data.get("attention_task") or "").strip():
            options["task"] = data["attention_task"]
        return options
