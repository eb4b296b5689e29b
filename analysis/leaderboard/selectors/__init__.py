"""Reads of the leaderboard, by subject: boards (inputs, computation, snapshots, the shown board), filters
(kind and dates), records (battle scans and export keys), fit_settings (how it is fitted)."""
