import time

import numpy as np
import pytest
import torch

from workers.embedding import embed
from workers.loading import load_encoder

SENTENCES = [
    "A man is playing a guitar.",
    "A person plays guitar.",
    "The stock market fell today.",
    "short",
    "A much longer sentence that needs a good deal of padding for the others in its batch to match it.",
]


def test_rows_have_unit_norm(tiny_encoder):
    vectors = embed(tiny_encoder, SENTENCES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(SENTENCES), 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_list(tiny_encoder):
    assert embed(tiny_encoder, []).shape == (0, 32)


def test_batch_size_does_not_change_results(tiny_encoder):
    done = []
    one_by_one = embed(tiny_encoder, SENTENCES, batch_size=1, progress=lambda d, n: done.append((d, n)))
    all_at_once = embed(tiny_encoder, SENTENCES, batch_size=32)
    np.testing.assert_allclose(one_by_one, all_at_once, atol=1e-5)
    assert done == [(i, len(SENTENCES)) for i in range(1, len(SENTENCES) + 1)]


def test_padding_does_not_change_a_sentence(tiny_encoder):
    alone = embed(tiny_encoder, ["short"])[0]
    padded = embed(tiny_encoder, ["short", SENTENCES[-1]], batch_size=2)[0]
    np.testing.assert_allclose(alone, padded, atol=1e-5)


def test_matches_a_manual_mean_pool(tiny_encoder):
    batch = tiny_encoder.tokenizer(["A person plays guitar."], return_tensors="pt")
    with torch.no_grad():
        hidden = tiny_encoder.model(**batch).last_hidden_state[0]
    expected = hidden.mean(dim=0)
    expected = (expected / expected.norm()).numpy()
    np.testing.assert_allclose(embed(tiny_encoder, ["A person plays guitar."])[0], expected, atol=1e-5)


def test_concurrent_calls_share_one_encoder(tiny_encoder):
    import threading

    expected = embed(tiny_encoder, SENTENCES, batch_size=2)
    results, errors = [], []

    def run():
        try:
            for _ in range(5):
                results.append(embed(tiny_encoder, SENTENCES, batch_size=2, max_length=64 + len(results)))
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_real_minilm_similarity(minilm_folder, capsys):
    encoder = load_encoder(minilm_folder, "cpu", "float32")
    assert encoder.embedding_dim == 384 and encoder.max_length == 256
    v = embed(encoder, SENTENCES[:3])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.3
    texts = [f"Sentence number {i} about guitars, markets and the weather." for i in range(256)]
    started = time.monotonic()
    embed(encoder, texts)
    rate = len(texts) / (time.monotonic() - started)
    with capsys.disabled():
        print(
            f"\nMiniLM: cos(guitar, guitar) = {v[0] @ v[1]:.3f}, cos(guitar, market) = {v[0] @ v[2]:.3f}; "
            f"{rate:.0f} sentences/s on {torch.get_num_threads()} torch thread(s)"
        )


def test_real_minilm_matches_sentence_transformers(minilm_folder):
    st = pytest.importorskip("sentence_transformers")
    expected = st.SentenceTransformer(str(minilm_folder), device="cpu").encode(SENTENCES, normalize_embeddings=True)
    got = embed(load_encoder(minilm_folder, "cpu", "float32"), SENTENCES)
    np.testing.assert_allclose(got, expected, atol=1e-5)
