"""The wiring between the layers: each hook a lower layer calls (its hooks.py), and what answers it.

Imports point down only, so these are the only calls that go up; reading this module tells what
happens when a vote is recorded, a model is ready, or a worker beats. Connected once per process,
when Django's apps are ready (config/apps.py): web servers, workers and commands alike.
"""

from analysis import tasks as analysis_tasks
from analysis.leaderboard.selectors.boards import blind_ratings_of_contenders
from analysis.leaderboard.services.votes import pair_counts_record
from arena import hooks as arena_hooks
from arena import tasks as arena_tasks
from arena.corpus_services import corpora_embed_for_model
from modelhub import hooks as modelhub_hooks
from modelhub import tasks as modelhub_tasks
from training import tasks as training_tasks
from workers import hooks as workers_hooks


def layers_connect() -> None:
    # arena.services.vote_cast → the leaderboard's pair counts, in the vote's transaction
    arena_hooks.vote_recorded.connect(pair_counts_record)
    # arena.selectors.pair_sampling_stats ← the latest leaderboard's blind ratings
    arena_hooks.sampling_ratings.connect(blind_ratings_of_contenders)
    # modelhub.tasks.prepare_model, training.services → the arena embeds its corpora with a new encoder
    modelhub_hooks.model_ready.connect(corpora_embed_for_model)
    # workers.signals' heartbeat → each app's clock-driven work (its tasks.py)
    workers_hooks.heartbeat.connect(
        modelhub_tasks.expire_lost_preparations,
        arena_tasks.expire_lost_jobs,
        analysis_tasks.release_pending_votes,
        analysis_tasks.expire_lost_diagnostics,
        training_tasks.resume_lost_training,
    )
    workers_hooks.model_names.connect(modelhub_tasks.model_names_of_paths)
