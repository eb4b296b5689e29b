"""STS Benchmark reader: the real test file and malformed inputs."""

from pathlib import Path

import pytest

from analysis.diagnostics.sts import StsPair, positive_pairs, read_sts


def _parseable_lines(path: Path) -> int:
    # Independent count: split each line on tabs by hand (no csv module).
    count = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) >= 7:
            float(fields[4])
            count += 1
    return count


def test_read_sts_test_file_has_all_pairs(sts_test_file):
    pairs = read_sts(sts_test_file)
    assert len(pairs) == 1379
    assert len(pairs) == _parseable_lines(sts_test_file)
    assert pairs[0] == StsPair("A girl is styling her hair.", "A girl is brushing her hair.", 2.5)
    assert all(0.0 <= p.score <= 5.0 for p in pairs)


def test_read_sts_ignores_extra_columns_and_keeps_quotes(sts_test_file):
    pairs = read_sts(sts_test_file)
    # Line 643 has 9 columns (two source notes after the sentences).
    assert pairs[642] == StsPair(
        "Unfortunately the answer to your question is we simply do not know.",
        'My answer to your question is "Probably Not".',
        1.0,
    )
    # Line 649 has an unbalanced quote: with csv's default quoting it would swallow the lines after it.
    assert pairs[648].sentence2 == 'I always go by the rule "When in doubt, throw it out!'
    assert pairs[648].score == 4.0
    assert not any("stackexchange" in p.sentence1 + p.sentence2 for p in pairs)


def test_read_sts_limit(sts_test_file):
    assert len(read_sts(sts_test_file, limit=10)) == 10
    assert read_sts(sts_test_file, limit=10) == read_sts(sts_test_file)[:10]


def test_positive_pairs(sts_test_file):
    pairs = read_sts(sts_test_file)
    positives = positive_pairs(pairs)
    assert len(positives) == sum(1 for p in pairs if p.score >= 4.0)
    assert 0 < len(positives) < len(pairs)
    assert all(p.score >= 4.0 for p in positives)
    assert positive_pairs(pairs, threshold=5.0) == [p for p in pairs if p.score == 5.0]


def test_read_sts_skips_blank_lines(tmp_path):
    f = tmp_path / "ok.csv"
    f.write_text("g\tf\t2012\t1\t3.5\tA b.\tC d.\n\ng\tf\t2012\t2\t0\tE.\tF.\textra\n", encoding="utf-8")
    assert read_sts(f) == [StsPair("A b.", "C d.", 3.5), StsPair("E.", "F.", 0.0)]


def test_read_sts_too_few_columns_names_line(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("g\tf\t2012\t1\t3.5\tA b.\tC d.\ng\tf\t2012\t2\t1.0\tonly one sentence\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv, line 2: expected at least 7"):
        read_sts(f)


@pytest.mark.parametrize("score", ["high", "nan", ""])
def test_read_sts_bad_score_names_line(tmp_path, score):
    f = tmp_path / "bad.csv"
    rows = ["g\tf\t2012\t1\t3.5\tA.\tB.", "g\tf\t2012\t2\t1\tC.\tD.", f"g\tf\t2012\t3\t{score}\tE.\tF."]
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3: score"):
        read_sts(f)
