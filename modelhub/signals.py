"""Signals of the model hub, for the apps above it (the hub never imports them)."""

from django.dispatch import Signal

# Sent in the worker that prepared a model, once it is ready; kwargs: model.
model_ready = Signal()
