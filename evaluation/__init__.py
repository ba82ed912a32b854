"""Faithfulness and sanity metrics of explanation maps. No Django here.

    curve = deletion_curve(model, images, targets, maps)          # curve.auc: (B,) in [0, 1]
    change = confidence_change(model, images, targets, maps)      # Average Drop, Increase in Confidence
    hits = pointing_game(maps, box_masks)                         # (B,) 0/1
    result = parameter_randomisation(model, images, targets, "gradcam")

Models are `explainers.LoadedModel`s or bare nn.Modules; maps are (B, H, W) in [0, 1] from
`explainers.explain` (any method it accepts). `METRICS` names every metric a report can score
(`evaluation.metrics`); `evaluation.report.evaluate_explainers` writes the tables and figures.
"""
from evaluation.adversarial import Plausibility, plausibility_test, segment, segment_pgd
from evaluation.errors import EvaluationError
from evaluation.faithfulness import (
    ADCC, ConfidenceChange, Curve, adcc, confidence_change, deletion_curve, insertion_curve,
)
from evaluation.localisation import (
    Annotation, box_mask, energy_pointing_game, pointing_game, read_voc_annotation,
)
from evaluation.metrics import METRICS
from evaluation.sanity import (
    DataRandomisation, Randomisation, Similarity, data_randomisation, map_similarity, parameter_randomisation,
    randomisable_layers,
)

__all__ = ["ADCC", "Annotation", "ConfidenceChange", "Curve", "DataRandomisation", "EvaluationError",
           "METRICS", "Plausibility", "Randomisation", "Similarity", "adcc", "box_mask", "confidence_change",
           "data_randomisation", "deletion_curve", "energy_pointing_game", "insertion_curve",
           "map_similarity", "parameter_randomisation", "plausibility_test", "pointing_game",
           "randomisable_layers", "read_voc_annotation", "segment", "segment_pgd"]
