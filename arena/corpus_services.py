"""Writes for retrieval corpora: creating them and embedding them once per encoder contender."""

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from arena.corpora import Document, python_docs_documents, top_k
from arena.models import Corpus, CorpusDocument, CorpusEmbedding
from modelhub.models import Contender
from modelhub.selectors import contenders_ready
from workers.jobs import job_claim, job_enqueue, job_fail, job_finish, job_progress_writer

logger = logging.getLogger(__name__)

PYTHON_DOCS = "python-docs"


def _documents_store(corpus: Corpus, documents: list[Document]) -> None:
    CorpusDocument.objects.bulk_create(
        [
            CorpusDocument(corpus=corpus, position=i, doc_id=d.doc_id[:200], title=d.title[:300], text=d.text)
            for i, d in enumerate(documents)
        ],
        batch_size=1000,
    )
    corpus.document_count = len(documents)
    corpus.save(update_fields=["document_count"])


@transaction.atomic
def corpus_documents_set(*, corpus: Corpus, documents: list[Document]) -> Corpus:
    """Store the documents of a new corpus and queue its embedding by every ready encoder."""
    _documents_store(corpus, documents)
    corpus_embeddings_queue_missing(corpus=corpus)
    return corpus


@transaction.atomic
def corpus_builtin_ensure() -> Corpus:
    """The default corpus: passages of Python's reference documentation (no download)."""
    corpus = Corpus.objects.filter(builtin=PYTHON_DOCS).first()
    if corpus is None:
        corpus = Corpus.objects.create(name="Python reference docs", builtin=PYTHON_DOCS,
                                       source_name="pydoc_data.topics")
        _documents_store(corpus, python_docs_documents())
    return corpus


@transaction.atomic
def corpus_embeddings_queue_missing(*, corpus: Corpus | None = None, requeue_unfinished: bool = False) -> int:
    """Queue the embedding of every corpus by every ready encoder contender that lacks it.

    `requeue_unfinished` also re-queues queued or running ones: at start-up their tasks may have
    been lost with a Redis that keeps nothing on disk (the embedded one).
    """
    from arena.tasks import embed_corpus

    corpora = [corpus] if corpus else list(Corpus.objects.all())
    queued = 0
    for contender in contenders_ready(kind="encoder"):
        for each in corpora:
            embedding, created = CorpusEmbedding.objects.get_or_create(corpus=each, contender=contender)
            retry = {CorpusEmbedding.Status.FAILED} | (
                {CorpusEmbedding.Status.QUEUED, CorpusEmbedding.Status.RUNNING} if requeue_unfinished else set()
            )
            if not created and embedding.status not in retry:
                continue
            CorpusEmbedding.objects.filter(id=embedding.id).update(
                status=CorpusEmbedding.Status.QUEUED, progress=0.0, error=""
            )
            job_enqueue(
                job_class=CorpusEmbedding, job_id=embedding.id, task=embed_corpus, queue=contender.model.queue_name
            )
            queued += 1
    return queued


def corpora_embed_for_model(*, model) -> int:
    """A model just became ready: if it is an encoder, queue its embedding of every corpus (retrieval
    battles need the vectors); returns how many were queued."""
    if model.kind != model.Kind.ENCODER:
        return 0
    return corpus_embeddings_queue_missing()


def _vectors_path(embedding: CorpusEmbedding) -> Path:
    return settings.ARENA_DATA_DIR / "corpora" / str(embedding.corpus_id) / f"{embedding.contender.slug}.npy"


def corpus_embedding_build(
    *, embedding_id: int, progress: Callable[[float], None] | None = None, worker: str = ""
) -> CorpusEmbedding | None:
    """Embed every document of the corpus with the contender (in a worker); store the vectors as .npy.

    Runs only a queued embedding (a redelivered task does nothing)."""
    from workers import runtime

    if not job_claim(job_class=CorpusEmbedding, job_id=embedding_id, worker=worker):
        return CorpusEmbedding.objects.filter(id=embedding_id).first()
    embedding = CorpusEmbedding.objects.select_related("corpus", "contender__model").get(id=embedding_id)
    texts = [
        f"{title}: {text}" if title else text
        for title, text in embedding.corpus.documents.order_by("position").values_list("title", "text")
    ]
    write = job_progress_writer(
        job_class=CorpusEmbedding, job_id=embedding_id, callback=(lambda f, _: progress(f)) if progress else None
    )

    def report(done: int, total: int) -> None:
        write(done / max(total, 1), f"Embedded {done}/{total} documents")

    try:
        started = time.monotonic()
        vectors, reading = runtime.embed(
            path=embedding.contender.model.prepared_path, precision=embedding.contender.precision, texts=texts,
            progress=report,
        )
        path = _vectors_path(embedding)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, vectors.astype(np.float32))
        os.replace(partial, path)  # atomic: a search never reads half a file
    except Exception as error:  # noqa: BLE001 - shown in the admin; other corpora and models unaffected
        logger.exception("Embedding corpus %s failed", embedding_id)
        job_fail(job_class=CorpusEmbedding, job_id=embedding_id, error=f"{type(error).__name__}: {error}")
        return CorpusEmbedding.objects.get(id=embedding_id)
    job_finish(
        job_class=CorpusEmbedding, job_id=embedding_id, path=str(path), dimension=vectors.shape[1],
        document_count=vectors.shape[0], seconds=time.monotonic() - started, joules=reading.joules,
        energy_source=reading.source, energy_method=reading.method[:300], device=reading.device,
    )
    return CorpusEmbedding.objects.get(id=embedding_id)


_vectors_lock = threading.Lock()
_vectors_cache: dict[tuple[str, float], np.ndarray] = {}


def _vectors(path: str) -> np.ndarray:
    """The stored vectors, memory-mapped once per worker process and file version."""
    key = (path, os.path.getmtime(path))
    with _vectors_lock:
        if key not in _vectors_cache:
            _vectors_cache[key] = np.load(path, mmap_mode="r")
        return _vectors_cache[key]


def retrieval_search(*, contender: Contender, corpus: Corpus, query: str, k: int):
    """Top-k documents of the corpus for the query: embed the query, one matrix-vector product."""
    from workers import runtime

    embedding = CorpusEmbedding.objects.get(corpus=corpus, contender=contender, status=CorpusEmbedding.Status.READY)
    vectors = _vectors(embedding.path)
    query_vector, reading = runtime.embed(
        path=contender.model.prepared_path, precision=contender.precision, texts=[query]
    )
    scores = np.asarray(vectors @ query_vector[0], dtype=np.float32)
    best = top_k(scores, k)
    documents = {
        d.position: d for d in CorpusDocument.objects.filter(corpus=corpus, position__in=[int(i) for i in best])
    }
    results = [
        {"doc_id": documents[int(i)].doc_id, "title": documents[int(i)].title, "text": documents[int(i)].text,
         "score": round(float(scores[int(i)]), 4)}
        for i in best
    ]
    return results, reading, embedding
