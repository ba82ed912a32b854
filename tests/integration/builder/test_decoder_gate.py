"""The PV decoder's quality gate in build_study: a decoder that does not beat the mean image stops the
build with nothing written; the gate's figures and the decoder's layer (by default the explanation's
target layer) land in the provenance."""

from pathlib import Path

import pytest

from explainers import load_model
from explainers.pv import DecoderQualityError, decoder_quality, load_decoder, load_images
from study.models import Item, Stimulus, Study
from study.building.build import build_study
from study.building.request import BuildRequest

pytestmark = pytest.mark.django_db
NO_GATE = {"decoder_min_ssim_margin": -1.0, "decoder_min_psnr_margin": -100.0}


def request_for(spec, dataset, **fields) -> BuildRequest:
    defaults = dict(slug="s1", model=str(spec), dataset=dataset, arms=("gradcam", "pv"), n_correct=2,
                    n_incorrect=1, seed=7, decoder_epochs=1)
    return BuildRequest(**(defaults | fields))


def files_under(root) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


def test_a_trained_decoder_that_does_not_beat_the_mean_image_stops_the_build_and_leaves_nothing(
    tiny_spec, csv_dataset, isolated_media, settings
):
    with pytest.raises(DecoderQualityError) as error:
        build_study(request_for(tiny_spec, csv_dataset), progress=False)  # 1 epoch on 54 images
    message = str(error.value)
    assert "held-out SSIM" in message and "mean image" in message and "PSNR" in message
    assert "Provide more images" in message and "upload a decoder trained elsewhere" in message
    assert not Study.objects.exists() and not Item.objects.exists() and not Stimulus.objects.exists()
    assert files_under(isolated_media) == []
    assert files_under(settings.EXPLAINER_CACHE_DIR) == []  # no decoder cached for the next build to reuse


def test_the_decoder_inverts_the_explanations_target_layer_unless_another_is_chosen(
    tiny_spec, csv_dataset, isolated_media, settings
):
    model = load_model(tiny_spec)
    study = build_study(request_for(tiny_spec, csv_dataset, **NO_GATE), progress=False)
    decoder = study.provenance["decoder"]
    assert decoder["layer"] == model.target_layer == "features.block3"
    assert Path(decoder["path"]).name == f"{model.weights_hash[:20]}-features.block3.pt"
    assert load_decoder(decoder["path"], model).layer == model.target_layer
    quality = decoder["quality"]
    assert quality["n_images"] == 6 and "held-out 6 of the 60" in decoder["measured_on"]  # 10 % held out
    assert quality["ssim_margin"] == pytest.approx(quality["ssim"] - quality["mean_image_ssim"])
    assert decoder["min_margins"] == {"ssim": -1.0, "psnr_db": -100.0}

    other = build_study(
        request_for(tiny_spec, csv_dataset, slug="s2", decoder_layer="features.block2", **NO_GATE),
        progress=False,
    )
    assert other.provenance["decoder"]["layer"] == "features.block2"
    assert load_decoder(other.provenance["decoder"]["path"], model).config.latent_shape == (64, 16, 16)


def test_a_given_decoder_is_judged_on_the_data_sets_images(
    tiny_spec, tiny_decoder, csv_dataset, isolated_media
):
    with pytest.raises(DecoderQualityError, match="upload a decoder trained elsewhere"):
        build_study(request_for(tiny_spec, csv_dataset, decoder=tiny_decoder), progress=False)
    assert not Study.objects.exists() and files_under(isolated_media) == []

    study = build_study(request_for(tiny_spec, csv_dataset, decoder=tiny_decoder, **NO_GATE), progress=False)
    model = load_model(tiny_spec)
    expected = decoder_quality(load_decoder(tiny_decoder, model), model,
                               load_images(sorted(csv_dataset.glob("*.png")), 32))
    assert study.provenance["decoder"]["quality"] == pytest.approx(expected.as_dict())
    assert study.provenance["decoder"]["measured_on"].startswith("the data set's images")


def test_the_build_jobs_result_shows_the_decoders_quality(
    tiny_spec, tiny_decoder, csv_dataset, isolated_media, jobs_inline
):
    from study import jobs
    from study.models import Job

    params = {"slug": "s1", "model": str(tiny_spec), "dataset": str(csv_dataset), "arms": ["pv"],
              "n_correct": 2, "n_incorrect": 1, "decoder": str(tiny_decoder), **NO_GATE}
    with jobs_inline():
        jobs.enqueue("build_study", params)
    job = Job.objects.get()
    assert job.state == "done", job.error
    quality = Study.objects.get(slug="s1").provenance["decoder"]["quality"]
    shown = job.result["PV decoder quality"]
    ssim, baseline = quality["ssim"], quality["mean_image_ssim"]
    assert shown.startswith(f"held-out SSIM {ssim:.3f} (mean image {baseline:.3f},")
    assert f"on {quality['n_images']} images" in shown
