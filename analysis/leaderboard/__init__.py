"""The leaderboard: both ladders (the blind vote, and the vote after the energy reveal) with
Bradley-Terry ratings, bootstrap intervals and ranks, online Elo, energy per contender and the GEA
switch statistics.

Plain numeric code (no Django; the import-linter contract "plain-numeric-code" keeps it so):

* ``ratings``: the rating kernels (Bradley-Terry, bootstrap, online Elo, descriptive tables);
* ``gea``: the GEA switch statistics (which votes are eligible, their counts, the intervals).

Django code: ``selectors`` (database reads: aggregates, snapshots, filters, scans of the
counted battles, the battle log) and ``services`` (writes: the fold of pending votes, the refit,
the rebuild, the import of a battle log).
"""
