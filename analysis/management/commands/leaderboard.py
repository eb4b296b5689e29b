"""`manage.py leaderboard`: both ladders from the database, or from a battle log without it."""

import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from analysis.leaderboard.battle_log import BattleLogError, BattleLogReader
from analysis.leaderboard.board import BoardInputs, board_compute, board_inputs_from_records, board_style_view
from analysis.leaderboard.ratings import prior_reg
from analysis.leaderboard.reveal import reveal_analysis
from analysis.leaderboard.selectors.boards import battles_unmeasured, board_inputs_from_tables
from analysis.leaderboard.selectors.filters import filters_parse
from analysis.leaderboard.selectors.fit_settings import bootstrap_rounds, prior_scale, provisional_battles
from analysis.leaderboard.selectors.records import battle_records
from analysis.leaderboard.summary import SUMMARY_KEYS


class Command(BaseCommand):
    help = (
        "Print the leaderboard (both ladders with 95% bootstrap intervals, Elo, energy, GEA switch rate) "
        "computed from the database, or from a battle log in FastChat's clean-battle format "
        "(.jsonl, one battle per line, or a .json array) without touching the database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--battles", metavar="FILE", help="A .jsonl or .json battle log to rate instead of the database."
        )
        parser.add_argument("--rounds", type=int, default=None, help="Bootstrap rounds (default 100).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap (default 0).")
        parser.add_argument(
            "--prior",
            type=float,
            default=None,
            metavar="POINTS",
            help="Scale (standard deviation, rating points) of the Gaussian prior on the ratings; 0 gives "
            "FastChat's maximum likelihood (default: ANALYSIS_PRIOR_SCALE).",
        )
        parser.add_argument(
            "--provisional",
            type=int,
            default=None,
            metavar="BATTLES",
            help="Contenders with fewer battles are provisional (default: ANALYSIS_PROVISIONAL_BATTLES).",
        )
        parser.add_argument(
            "--style-control",
            action="store_true",
            help="Report style-controlled ratings (lmarena's: answer length and markdown as features of the fit) "
            "in both ladders, and the style coefficients.",
        )
        parser.add_argument("--format", choices=["json", "table"], default="table")
        parser.add_argument(
            "--kind", default=None,
            help="Contender kind: chat or encoder (completion models are not ranked); default chat.",
        )
        parser.add_argument("--since", help="Only battles from this date (YYYY-MM-DD, UTC).")
        parser.add_argument("--until", help="Only battles up to this date, inclusive.")
        parser.add_argument("--category", help="One category's ladder (coding, math, long_query, a language code…).")

    def handle(self, *args, **options) -> None:
        rounds = options["rounds"]
        if rounds is not None and rounds < 0:
            raise CommandError("--rounds must be 0 or more.")
        rounds = bootstrap_rounds() if rounds is None else rounds
        options["fit"] = self._fit_options(options["prior"], options["provisional"])
        try:
            filters = filters_parse(
                kind=options["kind"], since=options["since"], until=options["until"], category=options["category"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        style = options["style_control"]
        if options["battles"]:
            board, source = self._from_file(options["battles"], filters, rounds, options["seed"], options["fit"])
        else:
            board, source = self._from_database(filters, rounds, options["seed"], options["fit"], contexts=style)
        if style:
            board = board_style_view(board)
            if board is None:  # a scan always gives the contexts: only a board without battles lacks them
                raise CommandError("No style control: the battles' answer lengths and markdown counts are unknown.")
        board = {"summary": board["summary"], "source": source, "filters": filters.as_dict(), **board}
        if not options["battles"]:
            board["unmeasured"] = battles_unmeasured(kind=filters.kind)
        board.setdefault("reveal_conditions", reveal_analysis([]))
        if options["format"] == "json":
            self.stdout.write(json.dumps(board, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(render_table(board))

    @staticmethod
    def _fit_options(prior, provisional) -> dict:
        """The prior and the provisional threshold: from the options, else from the settings."""
        if prior is not None:
            try:
                prior_reg(prior)
            except ValueError:
                raise CommandError(
                    f"--prior must be 0 (maximum likelihood) or a positive number of rating points, not {prior:g}."
                ) from None
        if provisional is not None and provisional < 0:
            raise CommandError(f"--provisional must be 0 or more, not {provisional}.")
        try:
            prior = prior_scale() if prior is None else float(prior)
            provisional = provisional_battles() if provisional is None else provisional
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        return {"prior": prior, "provisional": provisional}

    def _from_file(self, path, filters, rounds, seed, fit):
        reader = BattleLogReader(path, default_kind=filters.kind)
        start, end = filters.bounds()
        start_ts, end_ts = (start.timestamp() if start else None), (end.timestamp() if end else None)
        records = (
            r for r in reader
            if (start_ts is None or r.tstamp >= start_ts) and (end_ts is None or r.tstamp < end_ts)
        )
        try:
            inputs = board_inputs_from_records(records, kind=filters.kind)
        except BattleLogError as error:
            raise CommandError(str(error)) from None
        board = board_compute(
            inputs.get(filters.kind) or BoardInputs(filters.kind, contexts=[]), rounds=rounds, seed=seed,
            figures=False, **fit
        )
        return board, f"file {path} ({reader.read} battles, {reader.skipped} named battles left out)"

    def _from_database(self, filters, rounds, seed, fit, *, contexts=False):
        """From the aggregates; from a scan of the votes when dates are set, or when style control is
        wanted and the aggregates do not carry the battles' contexts."""
        if filters.category:  # the category's daily sums (in the date range when one is given)
            inputs = board_inputs_from_tables(
                kind=filters.kind, since=filters.since, until=filters.until, contexts=False, category=filters.category
            )
            board = board_compute(
                inputs.get(filters.kind) or BoardInputs(filters.kind), rounds=rounds, seed=seed, figures=False, **fit
            )
            return board, f"database (pair-outcome counts of the category {filters.category})"
        inputs = {} if filters.has_dates else board_inputs_from_tables(kind=filters.kind)
        source = "database (pair-outcome counts)"
        tables = inputs.get(filters.kind)
        if filters.has_dates or (contexts and tables is not None and tables.contexts is None):
            start, end = filters.bounds()
            inputs = board_inputs_from_records(
                battle_records(kind=filters.kind, start=start, end=end), kind=filters.kind
            )
            source = "database (scan of the votes" + (" in the date range)" if filters.has_dates else ")")
        board = board_compute(
            inputs.get(filters.kind) or BoardInputs(filters.kind, contexts=[]), rounds=rounds, seed=seed,
            figures=False, **fit
        )
        return board, source

def _fmt(x, digits=0) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_table(board: dict) -> str:
    """The board as text: its summary in plain words first, then the ladders, energy and switches."""
    lines = [
        f"Leaderboard ({board['kind']}) from {board['source']}",
        f"{board['ladders']['blind']['battles']} blind votes, {board['ladders']['energy']['battles']} votes after "
        f"the energy reveal; 95% intervals from {board['rounds']} bootstrap rounds",
        (
            f"Gaussian prior of {board['prior']:g} rating points on the ratings"
            if board["prior"]
            else "Maximum likelihood (no prior)"
        )
        + f"; * provisional: fewer than {board['provisional_battles']} battles, ranked after the others",
        "",
    ]
    if board.get("view") == "style":
        lines[1:2] = [
            "Style-controlled ratings (answer length and markdown as features of the fit), 95% intervals by the "
            "Laplace approximation; battles without the style counts left out: "
            + ", ".join(f"{lad} {board['ladders'][lad]['left_out']}" for lad in ("blind", "energy")),
            f"{board['ladders']['blind']['battles']} blind votes, {board['ladders']['energy']['battles']} votes "
            "after the energy reveal",
        ]
    lines[:0] = [board["summary"][key] for key in SUMMARY_KEYS] + [""]
    width = max([len("contender")] + [len(r["name"]) for r in board["side_by_side"]])
    header = (
        f"{'contender':<{width}}  {'blind':>4} {'rating':>6} {'95% CI':>13} {'elo':>6} {'n':>7}"
        f"  {'energy':>6} {'rating':>6} {'95% CI':>13} {'elo':>6} {'n':>7}  change"
    )
    lines += [header, "-" * len(header)]
    for row in board["side_by_side"]:
        cells = [f"{row['name']:<{width}} "]
        for ladder, w in (("blind", 4), ("energy", 6)):
            r = row[ladder]
            ci = f"{_fmt(r['lower'])}-{_fmt(r['upper'])}" if r["rating"] is not None else "-"
            rank = (_fmt(r["rank"]) + ("*" if r.get("provisional") else "")) if r["rank"] else "-"
            cells.append(
                f" {rank:>{w}} {_fmt(r['rating']):>6} {ci:>13}"
                f" {_fmt(r['elo']):>6} {r['battles']:>7} "
            )
        change = row["rank_change"]
        cells.append(" -" if change is None else f" {change:+d}")
        lines.append("".join(cells))
    lines += [
        "",
        "Energy per contender",
        f"{'contender':<{width}}  {'responses':>9}  {'J/response (95% CI)':>30}  {'J/token (95% CI)':>30}",
    ]
    for e in board["energy"]:
        j = _mean_and_interval(e["joules_mean"], e["joules_lower"], e["joules_upper"], 3)
        t = _mean_and_interval(e["joules_per_token_mean"], e["joules_per_token_lower"], e["joules_per_token_upper"], 4)
        lines.append(f"{e['name']:<{width}}  {e['responses']:>9}  {j:>30}  {t:>30}")
    if board.get("view") == "style":
        lines += ["", "Style coefficients: rating points for one standard deviation (sd) of the normalised "
                  "difference (a-b)/(a+b) between the answers"]
        for ladder in ("blind", "energy"):
            for c in board["ladders"][ladder]["coefficients"]:
                value = (
                    f"{_fmt(c['points'], 1)} ({_fmt(c['lower'], 1)} to {_fmt(c['upper'], 1)}), sd {_fmt(c['sd'], 3)}"
                    if c["points"] is not None else f"- ({c['reason']})"
                )
                lines.append(f"  {ladder:<6} {c['feature']:<8} {value}")
    lines += [f"Price of energy: {line}" for line in energy_price_lines(board.get("energy_price"))]
    g = board["gea"]["overall"]
    lines += [
        "",
        "GEA switch rate: of {n} votes whose blind choice used more energy, {k} switched to the one that used "
        "less: {r} (95% Wilson interval {lo}-{hi}); opposite direction {ok}/{on}: {orate}; votes between answers "
        "of about the same energy (within 5%) are not counted".format(
            n=g["n_eligible"], k=g["n_switched"], r=_pct(g["rate"]), lo=_pct(g["lower"]), hi=_pct(g["upper"]),
            ok=g["opposite_n_switched"], on=g["opposite_n_eligible"], orate=_pct(g["opposite_rate"]),
        ),
    ]
    for name, c in ((board.get("reveal_conditions") or {}).get("conditions") or {}).items():
        if not c["battles"]:
            continue
        t, vs = c["toward_cheaper"], c["vs_control"]
        beyond = (
            f"; beyond control {_pct(vs['difference'])} ({_pct(vs['lower'])} to {_pct(vs['upper'])})"
            if vs and vs["difference"] is not None else f"; beyond control: {vs['reason']}" if vs else " (the baseline)"
        )
        lines.append(
            f"Reveal {name}: {c['battles']} battles with both votes; to the cheaper answer {t['count']}/{t['n']}: "
            f"{_pct(t['rate'])} (95% Wilson {_pct(t['lower'])}-{_pct(t['upper'])}){beyond}"
        )
    unmeasured = board.get("unmeasured") or {}
    if unmeasured.get("battles"):
        lines.append(f"Left out: {unmeasured['battles']} battle(s) where {unmeasured['reason']}.")
    return "\n".join(lines)


def _mean_and_interval(mean: float | None, lower: float | None, upper: float | None, digits: int) -> str:
    """"0.500 (0.410-0.610)"; "0.500 (one response: no interval)"; "-" when nothing was measured."""
    if mean is None:
        return "-"
    if lower is None or upper is None:
        return f"{_fmt(mean, digits)} (one response: no interval)"
    return f"{_fmt(mean, digits)} ({_fmt(lower, digits)}-{_fmt(upper, digits)})"


def energy_price_lines(price: dict | None) -> list[str]:
    """"Each doubling of an answer's energy costs N rating points (95% CI lo-hi)", overall and per
    family; none when the board has no price."""
    if not price:
        return []
    groups = [("overall", price["overall"])] + [(f"family {f}", p) for f, p in price["by_family"].items()]
    lines = []
    for label, p in groups:
        if p["points"] is None:
            lines.append(f"{label}: none ({p['reason']}; {p['battles']} votes)")
        else:
            lines.append(
                f"{label}: each doubling of an answer's energy costs {p['points']:.1f} rating points "
                f"(95% CI {p['lower']:.1f} to {p['upper']:.1f}), from {p['battles']} energy-aware votes"
                + (", at equal length and markdown" if p.get("style_controlled") else "")
            )
    return lines
