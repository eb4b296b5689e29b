"""Corpora for retrieval battles: parsing uploaded files and the built-in Python docs corpus.

Plain Python: no Django imports.
"""

import json
import re
from dataclasses import dataclass


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message names the problem for a person."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str


def parse_corpus(data: bytes, filename: str, max_bytes: int) -> list[Document]:
    """UTF-8 text with one document per line, or JSONL with `id`, `text` and optional `title`."""
    if len(data) > max_bytes:
        raise CorpusError(f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"The file is not UTF-8 text (byte {error.start} cannot be decoded). Save it as UTF-8 and try again."
        ) from None
    if not text.strip():
        raise CorpusError("The file is empty: a corpus needs at least one document.")
    documents = _parse_jsonl(text) if filename.lower().endswith((".jsonl", ".ndjson")) else _parse_lines(text)
    if not documents:
        raise CorpusError("The file holds no documents.")
    return documents


def _parse_lines(text: str) -> list[Document]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            documents.append(Document(doc_id=str(number), title="", text=line))
    return documents


def _parse_jsonl(text: str) -> list[Document]:
    documents, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise CorpusError(f"Line {number} is not valid JSON ({error.msg}).") from None
        if not isinstance(record, dict):
            raise CorpusError(f"Line {number} must be a JSON object with \"id\" and \"text\".")
        doc_id, body, title = record.get("id"), record.get("text"), record.get("title", "")
        if doc_id is None or not isinstance(doc_id, str | int):
            raise CorpusError(f"Line {number} has no \"id\" (a string or a number).")
        if not isinstance(body, str) or not body.strip():
            raise CorpusError(f"Line {number} has no \"text\".")
        if not isinstance(title, str):
            raise CorpusError(f"Line {number}: \"title\" must be a string.")
        if str(doc_id) in seen:
            raise CorpusError(f"Line {number} repeats the id {doc_id!r}.")
        seen.add(str(doc_id))
        documents.append(Document(doc_id=str(doc_id), title=title.strip(), text=body.strip()))
    return documents


def python_docs_documents(max_chars: int = 1200) -> list[Document]:
    """The passages of Python's reference documentation, read from the standard library at run time
    (`pydoc_data.topics`): no download. Each topic is split at blank lines into passages of at most
    about `max_chars` characters; the title is the topic."""
    from pydoc_data.topics import topics

    documents = []
    for topic in sorted(topics):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", topics[topic]) if p.strip()]
        passage: list[str] = []
        size = 0
        part = 1
        for paragraph in paragraphs:
            if passage and size + len(paragraph) > max_chars:
                documents.append(Document(f"{topic}#{part}", topic, "\n\n".join(passage)))
                part += 1
                passage, size = [], 0
            passage.append(paragraph)
            size += len(paragraph)
        if passage:
            documents.append(Document(f"{topic}#{part}", topic, "\n\n".join(passage)))
    return documents


def top_k(scores, k: int):
    """Indices of the k highest scores, best first (argpartition, then a sort of k)."""
    import numpy as np

    k = min(k, len(scores))
    if k == 0:
        return np.array([], dtype=int)
    candidates = np.argpartition(-scores, k - 1)[:k]
    return candidates[np.argsort(-scores[candidates], kind="stable")]
