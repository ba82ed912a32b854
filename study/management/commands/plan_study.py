"""python manage.py plan_study --first 0.083 --second 0.35 --questions 14 [--pilot SLUG --subset ...]."""

from django.core.management.base import BaseCommand, CommandError

from analysis.errors import AnalysisError
from analysis.power import Arm, sample_size
from analysis.simulatability import ALTERNATIVES, SUBSETS
from study.models import Study
from study.building.planning import pilot_arms


class Command(BaseCommand):
    help = (
        "Participants per arm needed to detect a difference in accuracy with the Mann-Whitney test, "
        "by simulating whole studies: from expected accuracies (--first, --second, --questions) or "
        "from a pilot study's answers (--pilot SLUG --subset 'model incorrect')."
    )

    def add_arguments(self, parser):
        parser.add_argument("--first", type=float, help="expected mean accuracy of the first arm (0-1)")
        parser.add_argument("--second", type=float, help="expected mean accuracy of the second arm (0-1)")
        parser.add_argument("--first-sd", type=float, default=0.0, help="SD of true accuracies, first arm")
        parser.add_argument("--second-sd", type=float, default=0.0, help="SD of true accuracies, second arm")
        parser.add_argument("--questions", type=int, help="questions each participant answers in the subset")
        parser.add_argument("--pilot", metavar="SLUG", help="take accuracies, SDs, questions from this study")
        parser.add_argument("--subset", choices=list(SUBSETS.values()), default="model incorrect")
        parser.add_argument("--arms", nargs=2, metavar=("FIRST", "SECOND"), help="the pilot's two arms")
        parser.add_argument("--power", type=float, default=0.8)
        parser.add_argument("--alpha", type=float, default=0.05)
        parser.add_argument("--alternative", choices=ALTERNATIVES, default="two-sided",
                            help='"less": the first arm tends lower')
        parser.add_argument("--simulations", type=int, default=2000, help="simulated studies per n tried")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-per-arm", type=int, default=1000)

    def handle(self, **options):
        try:
            first, second, questions, names = self._arms(options)
            result = sample_size(
                first, second, questions, power=options["power"], alpha=options["alpha"],
                alternative=options["alternative"], n_simulations=options["simulations"],
                seed=options["seed"], max_per_arm=options["max_per_arm"],
            )
        except AnalysisError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{names[0]}: accuracy {first.accuracy:.3f} (participant SD {first.skill_sd:.3f}); "
            f"{names[1]}: accuracy {second.accuracy:.3f} (participant SD {second.skill_sd:.3f}); "
            f"{questions} questions each; Mann-Whitney {result.alternative}, alpha {result.alpha}."
        )
        self.stdout.write(
            f"{result.n_per_arm} participants per arm give power {result.power:.3f} "
            f"(± {result.se:.3f}, {result.n_simulations} simulated studies)."
        )

    def _arms(self, options) -> tuple[Arm, Arm, int, tuple[str, str]]:
        if options["pilot"]:
            try:
                study = Study.objects.get(slug=options["pilot"])
            except Study.DoesNotExist:
                raise CommandError(f"No study with slug {options['pilot']!r}.") from None
            arms = pilot_arms(study, options["subset"])
            names = tuple(options["arms"] or arms)
            if len(names) != 2 or any(name not in arms for name in names):
                raise CommandError(f"name two of the pilot's arms with --arms; it has {sorted(arms)}")
            (first, q1), (second, q2) = arms[names[0]], arms[names[1]]
            return first, second, max(q1, q2), names
        missing = [f"--{name}" for name in ("first", "second", "questions") if options[name] is None]
        if missing:
            raise CommandError(f"give {', '.join(missing)} (or --pilot SLUG)")
        first = Arm(options["first"], options["first_sd"])
        second = Arm(options["second"], options["second_sd"])
        return first, second, options["questions"], ("first arm", "second arm")
