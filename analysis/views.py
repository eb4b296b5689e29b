"""Thin views of the leaderboard: the page (plain tables without JavaScript), its live fragment,
the JSON API, the battle log, and the bundled plotly.js."""

from pathlib import Path

import plotly
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from analysis.leaderboard.battle_log import battle_log_lines
from analysis.leaderboard.board import board_style_view
from analysis.leaderboard.selectors.boards import leaderboard_view, snapshot_latest
from analysis.leaderboard.selectors.filters import Filters, filters_parse, ranked_kind_choices
from analysis.leaderboard.selectors.own_ladder import own_ladder
from analysis.leaderboard.selectors.records import battle_records
from analysis.leaderboard.services.refit import leaderboard_refit
from arena.choices import BLIND, ENERGY

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _filters(request: HttpRequest) -> Filters:
    return filters_parse(
        kind=request.GET.get("kind"), since=request.GET.get("since"), until=request.GET.get("until"),
        retired=request.GET.get("retired"), category=request.GET.get("category"),
    )


def _snapshot(filters: Filters):
    """The latest snapshot; the very first page view computes one (later, votes trigger refits)."""
    snapshot = snapshot_latest()
    if snapshot is None and not filters.from_sums:
        snapshot = leaderboard_refit(push=False)
    return snapshot


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''} ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    return f"{hours // 24} days ago"


VIEWS = ("plain", "style")  # ?view=: the plain ladders, or their style-controlled fits
STYLE_MISSING = (
    "Style-controlled ratings are not available for this board: they need each battle's answer lengths and "
    "markdown counts, and this board was computed without them. The plain ratings are shown."
)


def _query(request: HttpRequest, view: str) -> str:
    """The page's query string with ``view`` set (the plain view has no parameter)."""
    query = request.GET.copy()
    query.pop("view", None)
    if view != "plain":
        query["view"] = view
    return query.urlencode()


def _context(request: HttpRequest) -> tuple[dict, int]:
    error, status = None, 200
    view = request.GET.get("view") or "plain"
    try:
        filters = _filters(request)
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    except ValueError as exc:
        filters, view, error, status = Filters(), "plain", str(exc), 400
    snapshot = snapshot_latest() if error else _snapshot(filters)  # a refused request computes (stores) nothing
    board = leaderboard_view(filters=filters, snapshot=snapshot, figures=True)
    style_note = None
    if view == "style":
        styled = board_style_view(board)
        board, style_note = (styled, None) if styled else (board, STYLE_MISSING)
    computed_at = snapshot.computed_at if snapshot and board["live"] else None
    query = request.GET.urlencode() if not error else ""
    return {
        "board": board,
        "filters": filters,
        "error": error,
        "kind_choices": ranked_kind_choices(),
        "snapshot_id": snapshot.id if snapshot and board["live"] else "",
        "computed_at": computed_at,
        "age_text": age_text((timezone.now() - computed_at).total_seconds()) if computed_at else "",
        "query": query,
        "view": view,
        "style_note": style_note,
        "query_plain": _query(request, "plain") if not error else "",
        "query_style": _query(request, "style") if not error else "view=style",
        "plotly_version": plotly.__version__,
    }, status


@require_GET
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    context, status = _context(request)
    return render(request, "analysis/leaderboard.html", context, status=status)


@require_GET
def own_ladder_page(request: HttpRequest) -> HttpResponse:
    """The session's own ladder once it has enough counted votes; before that (and to anyone else, who
    has no such session) a 404 that says how many votes it takes."""
    own = own_ladder(session_key=request.session.session_key)
    sections = [
        (ladder, title, own["ladders"][ladder])
        for ladder, title in ((BLIND, "Your blind votes"), (ENERGY, "Your votes after the energy reveal"))
    ] if own["ladders"] else []
    return render(request, "analysis/own_ladder.html", {"own": own, "sections": sections},
                  status=200 if own["ladders"] else 404)


@require_GET
def leaderboard_fragment(request: HttpRequest) -> HttpResponse:
    """The tables and figure data alone: what the page's script swaps in after a refit."""
    context, status = _context(request)
    return render(request, "analysis/_board.html", context, status=status)


@require_GET
def leaderboard_json(request: HttpRequest) -> JsonResponse:
    try:
        filters = _filters(request)
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    figures = request.GET.get("figures", "").lower() in ("1", "true", "yes")
    return JsonResponse(leaderboard_view(filters=filters, snapshot=_snapshot(filters), figures=figures))


def _chunks(lines, size: int = 500):
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


@require_GET
def battles_jsonl(request: HttpRequest) -> HttpResponse:
    """The anonymised log of counted battles: FastChat's clean-battle fields plus ours."""
    try:
        filters = _filters(request)
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    start, end = filters.bounds()
    records = battle_records(kind=request.GET.get("kind") and filters.kind, start=start, end=end)
    response = StreamingHttpResponse(
        _chunks(battle_log_lines(records)), content_type="application/x-ndjson; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="battles.jsonl"'
    return response


@require_GET
def plotly_js(request: HttpRequest) -> FileResponse:
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
