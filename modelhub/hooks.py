"""The model hub's calls into the apps above it (workers/hooks.py; connected in config/wiring.py)."""

from workers.hooks import Event

# Sent in the worker that prepared a model (or trained one), once it is ready, with model: the arena
# embeds its corpora with a new encoder.
model_ready = Event("model ready")
