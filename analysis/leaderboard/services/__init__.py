"""Writes of the leaderboard, by subject: votes (into the running aggregates), refit (fit, store, push),
rebuild (from the battles, and battle-log imports), competitors (who is ranked)."""
