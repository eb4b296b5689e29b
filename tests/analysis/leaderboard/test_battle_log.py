"""Battle log files (FastChat clean-battle format): malformed lines are named; records survive the format."""

import json

import pytest

from analysis.leaderboard.battle_log import BattleLogError, BattleLogReader
from analysis.leaderboard.selectors.records import battle_records

GOOD = {"model_a": "x", "model_b": "y", "winner": "model_a", "tstamp": 1700000000.0}


def write_lines(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ({"model_b": "y", "winner": "tie", "tstamp": 1}, '"model_a" is missing'),
        ({"model_a": "x", "model_b": "x", "winner": "tie", "tstamp": 1}, "are the same"),
        ({"model_a": "x", "model_b": "y", "winner": "model_c", "tstamp": 1}, '"winner" must be one of'),
        ({"model_a": "x", "model_b": "y", "winner": "tie"}, '"tstamp" is missing'),
        ({**GOOD, "tstamp": "noon"}, '"tstamp" must be a number'),
        ({**GOOD, "energy_a_j": -1}, '"energy_a_j" must be at least 0'),
        ({**GOOD, "output_tokens_b": 1.5}, "whole number"),
        ({**GOOD, "winner_after_energy": "a"}, '"winner_after_energy" must be one of'),
        ({**GOOD, "kind": "completion"}, '"kind" must be one of chat, encoder'),
        ({**GOOD, "conv_metadata": [1, 2]}, '"conv_metadata" must be an object'),
        ({**GOOD, "conv_metadata": {"header_count_a": -1}}, '"conv_metadata.header_count_a" must be a whole'),
        ({**GOOD, "conv_metadata": {"list_count_b": {"ordered": 1.5}}}, '"conv_metadata.list_count_b.ordered"'),
        ({**GOOD, "conv_metadata": {"bold_count_a": "2"}}, '"conv_metadata.bold_count_a" must be'),
        ({**GOOD, "conv_metadata": {"sum_assistant_a_tokens": {"x": 1}}}, '"conv_metadata.sum_assistant_a_tokens"'),
    ],
)
def test_a_malformed_line_is_named(tmp_path, bad, message):
    path = write_lines(tmp_path / "log.jsonl", [GOOD, "", GOOD, bad, GOOD])
    with pytest.raises(BattleLogError, match=message) as error:
        list(BattleLogReader(path))
    assert "log.jsonl, line 4" in str(error.value)


def test_a_malformed_item_of_a_json_array_is_named_by_line(tmp_path):
    items = [GOOD, GOOD, {**GOOD, "winner": "b wins"}]
    path = tmp_path / "log.json"
    path.write_text("[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n")
    with pytest.raises(BattleLogError, match=r"line 4 \(battle 3\).*winner"):
        list(BattleLogReader(path))
    path.write_text('[\n{"model_a": "x",\n "model_b": }\n]')
    with pytest.raises(BattleLogError, match="line 3: not valid JSON"):
        list(BattleLogReader(path))


def test_log_reader_reads_fastchat_rows_and_skips_named_ones(tmp_path):
    rows = [
        {**GOOD, "judge": "arena_user_1", "anony": True, "language": "English"},
        {**GOOD, "winner": "tie (bothbad)", "anony": False},
        {**GOOD, "winner": "model_b", "question_id": "abc", "winner_after_energy": "tie",
         "tstamp_after_energy": 1700000005.0, "energy_a_j": 2.5, "energy_b_j": None, "kind": "encoder"},
        GOOD,  # the same content as the first row minus extra keys: a different key
    ]
    reader = BattleLogReader(write_lines(tmp_path / "log.jsonl", rows))
    records = list(reader)
    assert reader.skipped == 1 and reader.read == 3
    assert [r.winner for r in records] == ["a", "b", "a"]
    assert records[1].key == "abc" and records[1].winner_after == "tie" and records[1].kind == "encoder"
    assert records[1].energy_a_j == 2.5 and records[1].energy_b_j is None
    assert records[0].key.startswith("sha256-") and records[0].key != records[2].key
    again = list(BattleLogReader(tmp_path / "log.jsonl"))
    assert [r.key for r in again] == [r.key for r in records]  # stable keys: a re-import is recognised


def test_records_survive_the_log_format(quad, make_battle, vote, random_votes, tmp_path):
    random_votes(quad, make_battle, vote, 12, seed=5)
    records = list(battle_records())
    path = tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    assert list(BattleLogReader(path)) == records


def test_missing_file_is_explained(tmp_path):
    with pytest.raises(BattleLogError, match="Cannot read"):
        list(BattleLogReader(tmp_path / "nope.jsonl"))


FASTCHAT_META = {
    "sum_assistant_a_tokens": 120, "header_count_a": {"h1": 1, "h2": 2, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
    "list_count_a": {"ordered": 3, "unordered": 1}, "bold_count_a": {"**": 2, "__": 1},
    "sum_assistant_b_tokens": 40, "header_count_b": 0, "list_count_b": 0, "bold_count_b": 0,
}


def test_conv_metadata_gives_the_style_features(tmp_path):
    rows = [
        {**GOOD, "conv_metadata": FASTCHAT_META},
        {**GOOD, "conv_metadata": FASTCHAT_META, "output_tokens_a": 99},  # our own count wins
        {**GOOD, "conv_metadata": {"sum_assistant_a_tokens": 7}},  # partly known
        GOOD,  # none: unknown, not an error
    ]
    full, ours, part, none = BattleLogReader(write_lines(tmp_path / "log.jsonl", rows))
    style = ("output_tokens_a", "output_tokens_b", "headers_a", "headers_b", "lists_a", "lists_b", "bold_a", "bold_b")
    assert [getattr(full, f) for f in style] == [120, 40, 3, 0, 4, 0, 3, 0]
    assert (ours.output_tokens_a, ours.headers_a) == (99, 3)
    assert (part.output_tokens_a, part.headers_a, part.output_tokens_b) == (7, None, None)
    assert all(getattr(none, f) is None for f in style)
    # written back as plain totals, and read again to the same record
    line = full.to_json()
    assert line["conv_metadata"]["header_count_a"] == 3 and "conv_metadata" not in none.to_json()
    again = list(BattleLogReader(write_lines(tmp_path / "again.jsonl", [full.to_json(), none.to_json()])))
    assert again == [full, none]
