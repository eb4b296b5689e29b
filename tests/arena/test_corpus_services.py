"""Retrieval: corpus vectors stored once under ARENA_DATA_DIR, queries searched on the fly (real MiniLM)."""

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from arena.corpus_services import corpus_embedding_build, retrieval_search
from arena.models import Corpus, CorpusDocument, CorpusEmbedding
from modelhub.models import Contender
from tests.factories import corpus_upload

DOCUMENTS = [
    "The cat sat on the warm windowsill all afternoon.",
    "Interest rates rose sharply after the central bank meeting.",
    "A recipe for sourdough bread needs flour, water, salt and a starter.",
    "The volcano erupted, sending ash high into the sky.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "The football match ended in a draw after extra time.",
]


@pytest.fixture
def minilm(bundled_ready) -> Contender:
    bundled_ready("all-minilm-l6-v2")
    return Contender.objects.select_related("model").get(name="all-MiniLM-L6-v2")


def test_vectors_are_stored_as_a_file_and_a_copied_document_is_found_first(minilm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        corpus = corpus_upload(name="Mixed", data="\n".join(DOCUMENTS).encode(), filename="mixed.txt")
    assert len(queued) == 1  # one embedding task queued for the one ready encoder
    embedding = CorpusEmbedding.objects.get(corpus=corpus, contender=minilm)
    embedding = corpus_embedding_build(embedding_id=embedding.id)
    assert embedding.status == CorpusEmbedding.Status.READY, embedding.error
    path = Path(embedding.path)
    assert path.is_file() and path.is_relative_to(settings.ARENA_DATA_DIR)
    vectors = np.load(path)
    assert vectors.shape == (len(DOCUMENTS), 384)
    assert embedding.joules is not None and embedding.joules_per_1000_documents > 0

    for position, document in enumerate(DOCUMENTS):
        results, reading, _ = retrieval_search(contender=minilm, corpus=corpus, query=document, k=5)
        assert results[0]["text"] == document and results[0]["doc_id"] == str(position + 1)
        assert results[0]["score"] > 0.99 and len(results) == 5
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    results, reading, _ = retrieval_search(contender=minilm, corpus=corpus, query="Which animal was resting?", k=2)
    assert "cat" in results[0]["text"]
    assert reading.source == "estimate" and reading.joules >= 0


@pytest.mark.django_db
def test_admin_refuses_a_bad_corpus_file_and_stores_nothing():
    admin = get_user_model().objects.create_superuser("boss", "", "a-long-password-1")
    client = Client()
    client.force_login(admin)
    upload = SimpleUploadedFile("bad.jsonl", b'{"id": 1, "text": "fine"}\n{"id": 2, "text": \n')
    answer = client.post("/admin/arena/corpus/add/", {"name": "Bad", "upload": upload})
    assert answer.status_code == 200
    assert "Line 2 is not valid JSON" in answer.content.decode()
    assert not Corpus.objects.filter(name="Bad").exists()
    assert not CorpusDocument.objects.exists()

    upload = SimpleUploadedFile("good.txt", b"one\ntwo\nthree\n")
    answer = client.post("/admin/arena/corpus/add/", {"name": "Good", "upload": upload})
    assert answer.status_code == 302
    corpus = Corpus.objects.get(name="Good")
    assert corpus.document_count == 3 and corpus.source_name == "good.txt"
    assert list(corpus.documents.values_list("text", flat=True)) == ["one", "two", "three"]
