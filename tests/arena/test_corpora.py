import json

import numpy as np
import pytest

from arena.corpora import CorpusError, parse_corpus, python_docs_documents, top_k

LIMIT = 10_000


def test_plain_text_is_one_document_per_non_empty_line():
    documents = parse_corpus(b"first doc\n\n  second doc  \n", "docs.txt", LIMIT)
    assert [(d.doc_id, d.text) for d in documents] == [("1", "first doc"), ("3", "second doc")]


def test_jsonl_reads_id_text_and_title():
    lines = [{"id": "a", "text": "alpha", "title": "A"}, {"id": 7, "text": "seven"}]
    documents = parse_corpus("\n".join(json.dumps(x) for x in lines).encode(), "c.jsonl", LIMIT)
    assert [(d.doc_id, d.title, d.text) for d in documents] == [("a", "A", "alpha"), ("7", "", "seven")]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"caf\xe9 au lait", "latin1.txt", "not UTF-8 text (byte 3"),
        (b"   \n\n", "empty.txt", "empty"),
        (b"x" * (LIMIT + 1), "big.txt", "the limit is 10,000 bytes"),
        (b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "broken"\n', "c.jsonl", "Line 2 is not valid JSON"),
        (b'{"id": 1, "text": "ok"}\n["a", "list"]\n', "c.jsonl", "Line 2 must be a JSON object"),
        (b'{"text": "no id"}\n', "c.jsonl", "Line 1 has no \"id\""),
        (b'{"id": 1}\n', "c.jsonl", "Line 1 has no \"text\""),
        (b'{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "c.jsonl", "Line 2 repeats the id"),
    ],
)
def test_bad_files_are_refused_with_the_problem_named(data, name, message):
    with pytest.raises(CorpusError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_corpus(data, name, LIMIT)


def test_python_docs_corpus_is_read_from_the_standard_library():
    documents = python_docs_documents()
    assert len(documents) > 300
    assert len({d.doc_id for d in documents}) == len(documents)
    titles = {d.title for d in documents}
    assert {"assert", "try", "with"} <= titles
    assert any("assert_stmt" in d.text for d in documents if d.title == "assert")


def test_top_k_returns_best_first():
    scores = np.array([0.1, 0.9, -0.3, 0.5, 0.9, 0.2], dtype=np.float32)
    assert list(top_k(scores, 3)) == [1, 4, 3]
    assert list(top_k(scores, 10)) == list(np.argsort(-scores, kind="stable"))
    assert len(top_k(scores[:0], 5)) == 0
