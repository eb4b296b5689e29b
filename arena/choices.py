"""What a vote says, as stored and as passed to the leaderboard: the one list of choice codes.

Plain Python (no Django), so that the numeric code of the analysis can use it too; the model field
choices (``arena.models.Choice``) are built from it.

A battle takes two votes: the blind one, then one after the energy reveal (which may keep or change
the first). Each is one of the four choices below, and each feeds its own ladder of the leaderboard.
"""

A, B, TIE, BOTH_BAD = "a", "b", "tie", "bothbad"
# (member name, code, label) of arena.models.Choice
MEMBERS = (
    ("A", A, "A is better"), ("B", B, "B is better"), ("TIE", TIE, "Tie"), ("BOTH_BAD", BOTH_BAD, "Both are bad"),
)
CHOICES = tuple(code for _, code, _ in MEMBERS)
SCORE_OF_A = {A: 1.0, B: 0.0, TIE: 0.5, BOTH_BAD: 0.5}  # a tie and "both bad" count half a win for each side
OTHER_SIDE = {A: B, B: A}  # the choices that name one side, and the other side

# The ladders the two votes feed: "blind" (the first vote) and "energy" (the vote after the reveal).
BLIND, ENERGY = "blind", "energy"
LADDERS = (BLIND, ENERGY)

# The kinds of contender that anonymous battles draw, so the kinds a leaderboard can rank: chat
# battles (a prompt, two answers) and retrieval battles (a query, two encoders' documents). A base
# (completion) model is never drawn (its battles are side-by-side comparisons picked by name, which
# count for no ladder), so no leaderboard offers that kind.
RANKED_KINDS = ("chat", "encoder")
