"""The --trust-checkpoint option of the commands that take a model spec (--model SPEC)."""

from django.core.management.base import CommandError

from explainers import ExplainerError
from explainers.models import trusted_spec


def add_trust_argument(parser) -> None:
    parser.add_argument(
        "--trust-checkpoint", action="store_true",
        help="the spec's checkpoint may be a full pickled module of your own: it is unpickled, which runs any "
             "code it holds (without this flag only state dicts and safetensors files load)")


def model_spec(options: dict) -> str | dict:
    """The --model spec, or with --trust-checkpoint a spec that may unpickle a full module; that one loads in
    this process only, so it is refused with --enqueue (jobs never unpickle)."""
    if not options["trust_checkpoint"]:
        return options["model"]
    if options.get("enqueue"):
        raise CommandError("--trust-checkpoint loads the checkpoint in this process only; drop --enqueue")
    try:
        return trusted_spec(options["model"])
    except ExplainerError as error:
        raise CommandError(str(error)) from error
