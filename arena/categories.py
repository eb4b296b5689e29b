"""Categories of a battle's prompts, as Chatbot Arena reads its leaderboards by them. Plain Python (no
Django): rules a person can read, run on the CPU in well under a millisecond per prompt (the language
model's first use loads it once, ~0.5 s).

- ``coding``: the prompt shows code or asks about programming (a code fence, a line that reads as code,
  a programming word, an error or stack trace);
- ``math``: an arithmetic expression, an equation or a mathematical word;
- ``long_query``: at least LONG_QUERY_TOKENS tokens over the conversation's prompts (tokens: runs of
  letters or digits, and each other non-space character, a tokenizer-free count close to a BPE's);
- ``multi_turn``: two turns or more;
- the prompts' language, as its ISO 639-1 code (py3langid, a maintained fork of langid.py), when the
  identification is confident (probability ≥ LANGUAGE_MIN_PROBABILITY) and the text has some words.

Precision and recall of ``coding`` and ``math`` on a labelled sample (tests/arena/category_prompts.jsonl,
built by hand) are in docs/categories.md; tests/arena/test_categories.py measures them.
"""

from __future__ import annotations

import re
from functools import lru_cache

CODING, MATH, LONG_QUERY, MULTI_TURN = "coding", "math", "long_query", "multi_turn"
TOPICAL = (CODING, MATH)
LONG_QUERY_TOKENS = 500
LANGUAGE_MIN_PROBABILITY = 0.5
LANGUAGE_MIN_WORDS = 3

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[^\W\d_]{2,}")

_CODE_FENCE = re.compile(r"```|^( {4}|\t)\S", re.M)
_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import |#include|public |private |function |const |let |var |"
    r"SELECT |INSERT |UPDATE |CREATE TABLE|return |if \(|for \(|while \(|print\(|console\.log|fn |func |"
    r"package |using |<\?php|<div|<html|\$ |sudo |pip |npm |git )|^\s*\w+ = .+ if .+ else ", re.M | re.I,
)
_CODE_SYMBOLS = re.compile(r"[{};]\s*$|\w+\([^)]*\)\s*[{:;]|\w+\.\w+\(|=>|->|::|!=|==|\+\+|&&|\|\|", re.M)
_CODE_WORDS = re.compile(
    r"(?<![\w+#])(c\+\+|c#)(?![\w+#])|"
    r"\b(python|javascript|typescript|java|golang|rust|ruby|php|kotlin|swift|scala|haskell|sql|"
    r"bash|shell script|powershell|html|css|regex|regular expression|json|yaml|api|function|method|variable|"
    r"compile[rd]?|debug|bug|stack trace|exception|traceback|segfault|null pointer|recursion|algorithm|"
    r"data structure|linked list|binary tree|hash ?map|array|string to int|git|docker|kubernetes|linux "
    r"command|terminal|repository|unit test|pytest|framework|django|react|numpy|pandas|script|code|"
    r"snippet|program(?:ming)?|syntax|refactor|endpoint|database|query|lambda|async|thread|loop|implement|"
    r"time complexity|big-o|race condition|dockerfile|flask|virtual environment|npm|dependency injection|"
    r"stack|queue|cache|tuple|dictionar(?:y|ies)|sockets?|website|http|web ?app|frontend|backend)\b", re.I,
)
_NOT_CODE = re.compile(r"\b(code of conduct|dress code|zip code|postal code|area code|morse code|genetic code|"
                       r"cheat code|promo code|discount code|da vinci code|color code|python snake|"
                       r"snakes?,? (?:like )?(?:a )?python)\b", re.I)
_ERROR = re.compile(r"\b\w*(Error|Exception)\b:|Traceback \(most recent call last\)|line \d+, in ")

_ARITHMETIC = re.compile(
    r"\d\s*[-+*/×÷^]\s*\(?\s*-?\d|\d\s*=\s*\d|\b\d+\s*\^\s*\d|\d\s*%|√|∫|∑|π|≤|≥|≠|"
    r"\d\s+(?:times|plus|minus|divided by|multiplied by|to the power of)\s+\d", re.I,
)
# A word problem: two numbers or more and a question that asks for a quantity.
_WORD_PROBLEM = re.compile(r"\b(how many|how much|what was|what is|how long|how far)\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_EQUATION = re.compile(r"\b[a-z]\s*[-+*/^=]\s*\d|\d\s*[a-z]\b\s*[-+=]|\b[xyz]\s*=|\\frac|\\sqrt|\$[^$]+\$", re.I)
_MATH_WORDS = re.compile(
    r"\b(solve|equation|integral|derivative|differentiate|integrate|calculus|algebra|geometry|trigonometry|"
    r"probability|statistic(s|al)?|variance|standard deviation|mean of|median|matrix|matrices|eigen\w*|"
    r"prime|factori[sz]e|factorial|fraction|percent(age)?|square root|logarithm|exponent|polynomial|"
    r"common multiple|common divisor|power of|diagonals?|fibonacci|dot product|cross product|"
    r"theorem|prove that|proof|lemma|sum of|product of|how many ways|combinatorics|permutation|combination|"
    r"divisible|remainder|modulo|arithmetic|multiply|divided by|triangle|circle|radius|average|"
    r"area of|volume of|perimeter|angle|hypotenuse|compound interest|interest rate|average speed|ratio|"
    r"simplify|expand|inequality|limit of|sequence|series|converge|math|maths|mathematics|calculate|compute)\b",
    re.I,
)


def prompt_tokens(text: str) -> int:
    """Tokens of a prompt without a tokenizer: runs of letters or digits, and each other non-space character."""
    return len(_TOKEN.findall(text))


def is_coding(text: str) -> bool:
    """Code, or a question about programming."""
    if _CODE_FENCE.search(text) or _ERROR.search(text) or _CODE_LINE.search(text):
        return True
    cleaned = _NOT_CODE.sub(" ", text)
    return bool(_CODE_WORDS.search(cleaned)) or len(_CODE_SYMBOLS.findall(text)) >= 2


def is_math(text: str) -> bool:
    """An arithmetic expression, an equation, a word problem, or a mathematical question. In code, symbols
    (``n * 2``, ``x = y``) are the program's: only mathematical words count there."""
    if _MATH_WORDS.search(text):
        return True
    if is_coding(text):
        return False
    if _ARITHMETIC.search(text) or _EQUATION.search(text):
        return True
    return len(_NUMBER.findall(text)) >= 2 and bool(_WORD_PROBLEM.search(text))


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_of(text: str) -> str | None:
    """The ISO 639-1 code of the text's language when the identification is confident, else None."""
    if len(_WORD.findall(text)) < LANGUAGE_MIN_WORDS:
        return None
    code, probability = _identifier().classify(text)
    return code if probability >= LANGUAGE_MIN_PROBABILITY else None


def categories_of(prompts: list[str]) -> list[str]:
    """The categories of a conversation's prompts (one prompt per turn), sorted."""
    text = "\n".join(prompts)
    found = {name for name, rule in ((CODING, is_coding), (MATH, is_math)) if any(rule(p) for p in prompts)}
    if sum(prompt_tokens(prompt) for prompt in prompts) >= LONG_QUERY_TOKENS:
        found.add(LONG_QUERY)
    if len(prompts) >= 2:
        found.add(MULTI_TURN)
    language = language_of(text)
    if language:
        found.add(language)
    return sorted(found)
