"""The arena's calls into the apps above it (workers/hooks.py; connected in config/wiring.py)."""

from workers.hooks import Event, Provider

# Sent inside the vote's transaction for each vote (blind and final), with battle, ladder ("blind" or
# "energy") and choice: the leaderboard records it in the same transaction.
vote_recorded = Event("vote recorded")
# The current rating estimates for active sampling: called with a battle kind, answers {contender id:
# rating points}; {} (the default) means none, and the active policy uses its counts-only rule.
sampling_ratings: Provider[dict[int, float]] = Provider("sampling ratings", default=lambda kind: {})
