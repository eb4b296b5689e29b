"""Celery tasks of the training app: take the id, call one service.

A worker killed mid-run: the heartbeat of a live worker queues the run again (`resume_lost_training`),
and the next worker resumes it from its last checkpoint. The task is acked late too, but with Redis an
unacked task comes back only after the visibility timeout (an hour); the claim makes a late copy do nothing.
"""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def train_encoder(run_id: int) -> None:
    from modelhub.tasks import consume_queue
    from training.models import TrainingRun
    from training.services import training_run_execute

    run = training_run_execute(run_id=run_id, worker=train_encoder.request.hostname or "")
    if run.status == TrainingRun.Status.DONE and run.model is not None:
        # Like a prepared model: this worker holds it warm, so it serves its queue (corpus embeddings, battles).
        consume_queue(train_encoder, run.model.queue_name)


def resume_lost_training() -> None:
    from training.services import training_runs_resume_lost

    training_runs_resume_lost()
