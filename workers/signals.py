"""Worker start-up: load the models of the queues this worker serves, so the first battle is fast."""

import logging
import os
import threading

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


def _warm(queue_names: set[str]) -> None:
    from modelhub.models import Model
    from workers import runtime

    for model in Model.objects.filter(status=Model.Status.READY).exclude(prepared_path=""):
        if model.queue_name not in queue_names:
            continue
        try:
            if model.kind == Model.Kind.ENCODER:
                runtime.encoder_get(path=model.prepared_path)
            else:
                runtime.language_model_get(path=model.prepared_path)
            logger.info("Warmed %s", model.name)
        except Exception:  # noqa: BLE001 - a model that fails here fails visibly on its first request
            logger.warning("Could not warm %s", model.name, exc_info=True)


@worker_ready.connect
def warm_models(sender=None, **kwargs) -> None:
    if os.environ.get("ARENA_WARM_MODELS", "1") != "1":
        return
    try:
        queue_names = {queue.name for queue in sender.consumer.task_consumer.queues}
    except AttributeError:
        return
    # In the background: the worker takes tasks at once; a request for a model still loading waits
    # for that load (the model cache loads each key once).
    threading.Thread(target=_warm, args=(queue_names,), name="warm-models", daemon=True).start()
