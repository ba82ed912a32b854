"""What a built study tells its participants: the consent text and each arm's introduction to its
technique (or, in a control arm, to seeing the image alone)."""

from django.utils.html import escape

from study.models.study import CONTROL

# What the consent text says the participant will see, per design: every arm explains (False), or the study
# has a control arm (True).
SHOWN = {
    "simulation": {
        False: "You will see {n} images, each with an explanation of an image classifier's decision, and "
               "guess what the classifier predicted.",
        True: "You will see {n} images and guess what an image classifier predicted for each. Depending on "
              "the group you are placed in, each image comes with an explanation of the classifier's "
              "decision, or without one.",
    },
    "agreement": {
        False: "You will see {n} images, each with an image classifier's prediction and an explanation of "
               "it, and say whether you think the prediction is correct.",
        True: "You will see {n} images, each with an image classifier's prediction, and say whether you "
              "think it is correct. Depending on the group you are placed in, each prediction comes with an "
              "explanation, or without one.",
    },
    "distinction": {
        False: "You will see {n} images, each with several explanations of an image classifier's decision, "
               "one for each of the classes it found most likely, and pick the one for the class it "
               "predicted.",
    },
    "attention": {
        True: "You will see {n} blurred images. Clicking or tapping an image shows a small sharp circle of it "
              "around that point; click where you would look to make out the image.",
    },
    "learn_predict": {
        False: "You will see {n} images in rounds: first some with an image classifier's decision and an "
               "explanation of it, to learn how the classifier decides, then some without, where you predict "
               "its decision.",
        True: "You will see {n} images in rounds: first some with an image classifier's decision, to learn "
              "how the classifier decides, then some without, where you predict its decision. Depending on "
              "the group you are placed in, each decision you learn from comes with an explanation, or "
              "without one.",
    },
}
# An attention block (Study.attention_block) before the questions, said after SHOWN.
BLOCK_SHOWN = ("Before that, you will see {n} of the images blurred: clicking or tapping one shows a small "
               "sharp circle of it around that point; click where you would look to make out the image.")
CONSENT_TEXT = (  # HTML, shown as it is (a study's consent_text), after consent_text fills in what is shown
    "<p>{shown} It takes about 10 minutes.</p>"
    "<p>We store your answers and response times under a random code. If you came from a recruitment "
    "platform, we also store the IDs it put in your study link (such as your Prolific ID and session "
    "ID), so that you can be paid; the researchers see them with your answers. We store nothing else "
    "that identifies you.</p>"
    "<p>You may stop at any time.</p>"
)

# What a participant reads about each technique on the intro page: a name and what it shows, in plain words
# (every method in explainers.METHODS; no raw method key). How a map is drawn follows in RENDERING_NOTES.
TECHNIQUES = {
    "gradcam": ("Grad-CAM", "Grad-CAM highlights the regions of the image that most increased the model's "
                "score for the class it predicted."),
    "gradcam++": ("Grad-CAM++", "Grad-CAM++ highlights the regions of the image that increased the model's "
                  "score for the class it predicted, and can pick out several objects of that class at "
                  "once."),
    "xgradcam": ("XGrad-CAM", "XGrad-CAM, a variant of Grad-CAM, highlights the regions of the image that "
                 "most increased the model's score for the class it predicted."),
    "layercam": ("LayerCAM", "LayerCAM highlights the regions of the image that increased the model's score "
                 "for the class it predicted, judging each spot on its own, which gives finer detail."),
    "scorecam": ("Score-CAM", "Score-CAM shows the model parts of the image on their own and measures how "
                 "much each part alone raises its score for the class it predicted."),
    "fem": ("Feature Explanation Method", "This method highlights the regions where the model's internal "
            "features respond unusually strongly: what stood out to the model, whatever it predicted."),
    "cam": ("Class Activation Mapping", "Class Activation Mapping highlights the regions that the model's "
            "last layer counted most towards the class it predicted."),
    "guided_gradcam": ("Guided Grad-CAM", "Guided Grad-CAM keeps the fine detail (edges, textures) inside "
                       "the regions that most increased the model's score for the class it predicted."),
    "reciprocam": ("Recipro-CAM", "Recipro-CAM highlights the regions of the image that, kept on their own, "
                   "best keep the model's score for the class it predicted."),
    "smooth_gradcam++": ("Smooth Grad-CAM++", "Smooth Grad-CAM++ averages Grad-CAM++ over many slightly "
                         "noisy copies of the image: the regions that steadily increased the model's score "
                         "for the class it predicted."),
    "gradient": ("Saliency map", "A saliency map marks the pixels where the smallest change would change "
                 "the model's score for the class it predicted the most."),
    "smoothgrad": ("SmoothGrad", "SmoothGrad averages a saliency map over many slightly noisy copies of the "
                   "image: the pixels whose change most affects the model's score for the class it "
                   "predicted, with less speckle."),
    "integrated_gradients": ("Integrated Gradients", "Integrated Gradients fades the image in from a blank "
                             "one and adds up how much each pixel raised the model's score for the class it "
                             "predicted along the way."),
    "guided_backprop": ("Guided Backpropagation", "Guided Backpropagation traces the model's decision back "
                        "to the pixels, keeping only what raised its score for the class it predicted; it "
                        "tends to show edges and fine detail."),
    "gradient_x_input": ("Gradient × Input", "This method weighs each pixel by how strongly the model's "
                         "score for the class it predicted reacts to it: the pixels that contributed most."),
    "deconvnet": ("DeconvNet", "DeconvNet traces the model's internal features back to the pixels that "
                  "set them off: the patterns the model responded to."),
    "deeplift": ("DeepLIFT", "DeepLIFT compares the image with a blank one and shares out the difference in "
                 "the model's score for the class it predicted among the pixels."),
    "lrp": ("Layer-wise Relevance Propagation", "Layer-wise Relevance Propagation passes the model's score "
            "for the class it predicted back through the network, layer by layer, sharing it out among the "
            "pixels by how much each contributed."),
    "smoothgrad_squared": ("SmoothGrad²", "SmoothGrad² averages a saliency map over many slightly noisy "
                           "copies of the image, squaring each first, so that only the strongest evidence "
                           "for the class the model predicted stands out."),
    "vargrad": ("VarGrad", "VarGrad shows how much each pixel's importance varies over many slightly noisy "
                "copies of the image: the pixels the model's score for the class it predicted keeps "
                "reacting to stand out."),
    "occlusion": ("Occlusion", "This method covers one small patch of the image at a time and measures how "
                  "much the model's score for the class it predicted drops: the patches whose covering "
                  "hurt most mattered most."),
    "rise": ("Randomized Input Sampling", "This method shows the model many copies of the image with random "
             "parts hidden and notes which visible parts kept its score for the class it predicted high."),
    "lime": ("LIME", "This method splits the image into patches, shows the model many "
             "versions with some patches hidden, and fits a simple model that tells which patches drive the "
             "class it predicted."),
    "pv": (
        "Perception Visualization",
        "Perception Visualization shows what the model saw, not only where: "
        "the highlighted regions are redrawn from the model's own internal features by a decoder "
        "network, and the rest of the image is white. Shapes and textures the model picked up appear; "
        "details it ignored are blurred or missing.",
    ),
}
# How a map-based explanation is drawn, one sentence per key of rendering.RENDERINGS (PV: its own picture).
RENDERING_NOTES = {
    "white_mask": "The rest of the image is faded to white: what you still see is what mattered most.",
    "jet": "Colours laid over the image show how much each part mattered: red most, then yellow, green, and "
           "blue least.",
}


# A control arm's introduction (HTML), per design: no technique, no explanation and no worked example.
CONTROL_INTROS = {
    "simulation": "<h2>The image only</h2><p>In each question you will see an image only, with no "
                  "explanation of the model's decision, and guess which class the model predicted for "
                  "it.</p>",
    "agreement": "<h2>The prediction only</h2><p>In each question you will see an image and the model's "
                 "prediction for it, with no explanation, and say whether you think the prediction is "
                 "correct.</p>",
    "attention": "<h2>Blurred images</h2><p>In each question you will see a blurred image. Click or tap it: "
                 "a small circle around that point becomes sharp (one circle at a time). Click where you would "
                 "look to make out what the image shows; the counter says how many clicks you made, and "
                 "<em>Next</em> becomes available once you have made enough.</p>",
    "learn_predict": "<h2>The decision only</h2><p>The study comes in rounds. First you will see images "
                     "with the model's decision on each, with no explanation, to learn how the model "
                     "decides; then images alone, where you predict the model's decision.</p>",
}
# What an explained arm's participant does in each question, per design ({k}: the panels of distinction).
TASKS = {
    "simulation": "In each question you will see an image and such an explanation of the model's decision on "
                  "it, and guess which class the model predicted.",
    "agreement": "In each question you will see an image, the model's prediction and such an explanation of "
                 "it, and say whether you think the prediction is correct.",
    "distinction": "In each question you will see an image and {k} such explanations, numbered, each for one "
                   "of the {k} classes the model found most likely, and pick the one for the class the model "
                   "predicted.",
    "learn_predict": "The study comes in rounds. First you will see images with the model's decision "
                     "and such an explanation of it, to learn how the model decides; then images alone, "
                     "where you predict the model's decision.",
}


def consent_text(n: int, control: bool, design: str = "simulation", block: int = 0) -> str:
    """The consent text (HTML) of a study of `n` questions in `design`; `control`: it has a control arm, so
    not every participant sees explanations; `block`: the images of an attention block before them."""
    shown = SHOWN[design][control].format(n=n)
    return CONSENT_TEXT.format(shown=f"{shown} {BLOCK_SHOWN.format(n=block)}" if block else shown)


def intro_html(technique: str, example_prediction: str, rendering: str = "white_mask",
               design: str = "simulation", k: int = 0) -> str:
    """The arm's introduction: what the technique shows (its name and plain words, no method key), how the
    map is drawn, what each question asks in `design` (with `k` panels in distinction), and how to read the
    worked example below it (the explanation of the predicted class); for CONTROL, the design's control
    intro."""
    if technique == CONTROL:
        return CONTROL_INTROS[design]
    title, text = TECHNIQUES[technique]
    note = "" if technique == "pv" else f" {RENDERING_NOTES[rendering]}"
    return (
        f"<h2>{escape(title)}</h2><p>{escape(text)}{escape(note)}</p>"
        f"<p>{escape(TASKS[design].format(k=k))} In the example below (the image on the left, its "
        f"explanation on the right), the model predicted <strong>{escape(example_prediction)}</strong>.</p>"
    )
