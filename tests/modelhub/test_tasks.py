"""Tasks through a real Celery worker on the real Redis (CI's server, or the embedded one)."""

from django.db import transaction

from modelhub.models import Model
from modelhub.services import model_prepare_queue
from tests.factories import wait_for_status


def test_prepare_task_runs_in_the_worker_and_records_the_model(celery_worker_threads, minilm_folder):
    model = Model.objects.create(
        name="MiniLM folder",
        family="st",
        kind=Model.Kind.ENCODER,
        source_type=Model.SourceType.HF_FOLDER,
        source=str(minilm_folder),
    )
    with transaction.atomic():
        model_prepare_queue(model=model)
        # Queued on commit: nothing runs while the transaction is open.
        assert Model.objects.get(id=model.id).status == Model.Status.REGISTERED
    model = wait_for_status(model.id, {Model.Status.READY, Model.Status.FAILED})
    assert model.status == Model.Status.READY, model.error
    assert model.parameter_count == 22_713_216 and model.embedding_dim == 384
    assert model.smoke_test_output == "2 vectors of dimension 384"
    assert model.load_seconds is not None and model.progress == 1.0
