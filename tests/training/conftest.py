import copy

import pytest
import torch


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


# Graded pairs (sentence, sentence, score 0-5) small enough for a few steps on two CPU cores.
GRADED = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "Someone cuts an onion.", 4.2),
    ("A dog runs in the park.", "The stock market fell today.", 0.0),
    ("Two kids are playing football.", "Children play soccer outside.", 3.9),
    ("A cat sleeps on the sofa.", "A plane lands at the airport.", 0.2),
    ("The chef cooks pasta.", "A cook is making noodles.", 3.5),
    ("He reads a book.", "The weather is sunny.", 0.4),
    ("A girl rides a horse.", "A young woman is riding a horse.", 4.5),
]


@pytest.fixture
def graded_pairs():
    from training.loop import Example

    return [Example(a, b, score) for a, b, score in GRADED]


@pytest.fixture
def pairs_file(tmp_path):
    """The graded pairs as a CoSENT pairs file (TSV)."""
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{a}\t{b}\t{score}\n" for a, b, score in GRADED))
    return path


@pytest.fixture
def sts_file(tmp_path):
    """The graded pairs in the STS Benchmark's layout (genre, file, year, id, score, sentence, sentence)."""
    path = tmp_path / "sts.csv"
    path.write_text("".join(f"main\tf\t2012\t{i}\t{score}\t{a}\t{b}\n" for i, (a, b, score) in enumerate(GRADED)))
    return path
