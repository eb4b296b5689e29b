from arena.style import MarkdownCounts, markdown_counts


def test_counts_headers_lists_and_bold():
    text = "# Title\n\nSome **bold** and __also bold__.\n\n## Part\n1. one\n2. two\n- three\n  * four\n+ five\n"
    assert markdown_counts(text) == MarkdownCounts(headers=2, lists=5, bold=2)


def test_code_blocks_and_lookalikes_do_not_count():
    text = "```\n# not a header\n- not a list\n**not bold**\n```\n#hashtag\n-dash\n** spaced\n**\n1.5 litres"
    assert markdown_counts(text) == MarkdownCounts(headers=0, lists=0, bold=0)


def test_empty_text():
    assert markdown_counts("") == MarkdownCounts(0, 0, 0)
