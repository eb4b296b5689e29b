"""The leaderboard: both ladders (the blind vote, and the vote after the energy reveal) with
Bradley-Terry ratings, bootstrap intervals and ranks, online Elo, energy per contender and the GEA
switch statistics, style-controlled ladders and the price of energy.

Plain Python, no Django (the import-linter contract "plain-numeric-code" keeps it so), so a battle
log can be rated, tested and benchmarked without a database:

* ``ratings``: the rating kernels (Bradley-Terry, bootstrap, online Elo, descriptive tables);
* ``contextual``: Bradley-Terry with per-battle features: style control and the price of energy;
* ``gea``: the GEA switch statistics (which votes count, their counts, the intervals);
* ``board``: a board of one kind computed from its inputs (aggregates of battles);
* ``figures``: the board's plotly figures;
* ``battle_log``: FastChat's clean-battle log format (a record per battle, read and written).

Django code:

* ``selectors``: database reads (the inputs from the running aggregates, snapshots, filters,
  scans of the counted battles);
* ``services``: writes (the fold of pending votes into the aggregates, the refit, the rebuild,
  the import of a battle log).
"""
