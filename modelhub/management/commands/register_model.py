import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from modelhub.models import Model
from modelhub.services import model_register

# Where the weights are (exactly one): option -> source type.
SOURCES = {
    "endpoint": Model.SourceType.ENDPOINT,
    "hf_folder": Model.SourceType.HF_FOLDER,
    "gguf": Model.SourceType.GGUF_FILE,
    "hub_id": Model.SourceType.HUB_ID,
    "package": Model.SourceType.PACKAGE,
}
# A model field's option, for error messages.
OPTION_OF_FIELD = {
    "source": "the source option", "served_model_id": "--served-model", "api_key_env": "--api-key-env",
    "context_length": "--context-length", "meter": "--meter", "name": "--name", "family": "--family",
    "kind": "--kind", "maker": "--maker", "source_type": "the source option",
}


class Command(BaseCommand):
    help = (
        "Register a model and its default contender, and queue its preparation in a worker. One source: "
        "--endpoint URL --served-model ID (an inference engine), --hf-folder, --gguf, --hub-id or --package. "
        "With --wait, return when preparation ended: exit 0 when ready, 1 with the reason otherwise."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--family", required=True, help="Models of one family may be paired (GEA setting).")
        parser.add_argument("--kind", required=True, choices=[kind.value for kind in Model.Kind])
        parser.add_argument("--maker", default="", help="Who made it (an answer naming it is an identity leak).")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--endpoint", help="An engine's OpenAI-compatible base URL, e.g. http://gpu-1:8000/v1.")
        source.add_argument("--hf-folder", help="Absolute path of a Hugging Face model folder on the worker machine.")
        source.add_argument("--gguf", help="Absolute path of a .gguf file on the worker machine.")
        source.add_argument("--hub-id", help="A model id already in the local Hugging Face cache.")
        source.add_argument("--package", help="A bundled catalogue key.")
        parser.add_argument("--served-model", default="", help="Engine: the model id it lists under GET /v1/models.")
        parser.add_argument(
            "--api-key-env", default="",
            help="Engine: the NAME of the worker's environment variable holding its API key.",
        )
        parser.add_argument("--context-length", type=int, default=None, help="Engine: tokens per request it takes.")
        parser.add_argument(
            "--meter", default=None,
            help="Engine: nvml:0,1 | rapl | process:/path/engine.pid | none (default none: 'not measured').",
        )
        parser.add_argument("--no-contender", action="store_true", help="Do not create its default contender.")
        parser.add_argument("--wait", action="store_true", help="Wait for the preparation, with a progress bar.")
        parser.add_argument(
            "--timeout", type=float, default=settings.ARENA_PREPARE_TIMEOUT_S,
            help="Seconds --wait waits (default %(default)s).",
        )

    def handle(self, *args, **options) -> None:
        option = next(key for key in SOURCES if options[key])
        engine = option == "endpoint"
        meter = options["meter"]
        if engine and meter is None:
            meter = "none"
            self.stdout.write(self.style.WARNING("No --meter given: this model's energy will show as 'not measured'."))
        try:
            model = model_register(
                name=options["name"], family=options["family"], kind=options["kind"], maker=options["maker"],
                source_type=SOURCES[option], source=options[option], served_model_id=options["served_model"],
                api_key_env=options["api_key_env"], context_length=options["context_length"], meter=meter or "",
                create_contender=not options["no_contender"],
            )
        except ValidationError as error:
            lines = [
                f"{OPTION_OF_FIELD.get(field, field)}: {' '.join(messages)}"
                for field, messages in error.message_dict.items()
            ]
            raise CommandError("The model was not registered:\n  " + "\n  ".join(lines)) from None
        self.stdout.write(f"Registered {model.name} (slug {model.slug}); its preparation is queued.")
        if options["wait"]:
            self._wait(model, options["timeout"])

    def _wait(self, model: Model, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with tqdm(total=100, desc=f"{model.name[:24]:24}", unit="%", bar_format="{l_bar}{bar}| {postfix}") as bar:
            while True:
                model.refresh_from_db()
                bar.n = round(model.progress * 100)
                bar.set_postfix_str((model.progress_text or model.status)[:50])
                if model.status in (Model.Status.READY, Model.Status.FAILED) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        if model.status == Model.Status.READY:
            self.stdout.write(self.style.SUCCESS(f"{model.name} is ready: {model.smoke_test_output}"))
            return
        if model.status == Model.Status.FAILED:
            raise CommandError(f"{model.name} failed its preparation: {model.error}")
        raise CommandError(
            f"{model.name} was not prepared within {timeout_s:.0f} s (status: {model.status}, "
            f"{model.progress_text or 'no worker took it'}). Is a worker running?"
        )
