"""A self-contained HTML report of a run, for stakeholders: it opens offline (plotly inlined).

Every string that came from the user (file name, column names, values) is escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
from typing import Any

from advisor.objectives import HIGHER_IS_BETTER
from advisor.present.charts import batch_data, batch_figure, pareto_data, pareto_figure
from advisor.present.explain import helpers_message
from advisor.present.numbers import format_column, format_quantity
from advisor.present.text import markdown_code, markdown_text  # noqa: F401 - re-exported for the report's users
from advisor.results import LEADERBOARD_COLUMNS, Run

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem} h1{margin-bottom:.2rem} .muted{color:#666}
.card{border:1px solid #ddd;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
.rec{border-color:#2ca02c;background:#f4fbf4} table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:right} th{background:#fafafa}
td.l,th.l{text-align:left} tr.recommended td{font-weight:600;background:#f4fbf4} code{font-size:.85rem}
.methods li{margin:.2rem 0;font-size:.85rem}
"""

BOARD_COLUMNS = (
    "key",
    "family",
    "primary",
    "primary_ci95_low",
    "primary_ci95_high",
    "p50_ms",
    "p99_ms",
    "rows_per_s",
    "best_batch",
    "size_bytes",
    "gzip_bytes",
    "params",
    "peak_predict_bytes",
    "load_ms",
    "cold_start_ms",
    "joules_per_1k",
    "usd_per_million",
    "usd_per_month",
    "pareto",
    "status",
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(column: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if column in ("key", "family", "status") and value is not None:
        return _e(value)
    return _e(format_column(value, column))


def _figure_html(figure: Any, include_plotlyjs: bool) -> str:
    text = figure.to_html(include_plotlyjs=include_plotlyjs, full_html=False, config={"displaylogo": False})
    return text


def _header_cell(column: str, primary_metric: str) -> str:
    _, direction, meaning = LEADERBOARD_COLUMNS[column]
    label = primary_metric if column == "primary" else column
    if column == "primary":
        direction = "higher" if HIGHER_IS_BETTER[primary_metric] else "lower"
    better = f"<br>{direction} is better" if direction in ("higher", "lower") else ""
    align = "l" if column in ("key", "family", "status") else ""
    return f"<th class='{align}' title='{_e(meaning)}'>{_e(label)}{better}</th>"


def _deployment_section(run: Run) -> str:
    """How each candidate answers as deployed, and any figures measured on a target machine."""
    rows = []
    for c in run.candidates:
        fast = next((n for n in c.notes if n.startswith("single records")), "")
        rows.append(
            f"<tr><td class='l'>{_e(c.key)}</td><td class='l'>{_e(c.compression or '')}</td>"
            f"<td class='l'>{_e(fast)}</td></tr>"
        )
    html_parts = [
        "<h2>As deployed</h2><p>Each candidate is exported as one verified file "
        "(<code>python -m advisor export RUN KEY --out model.zip</code>): the model and its preprocessing, "
        "the input schema, these measurements, library versions, a model card and SHA-256 digests "
        "checked on load. The latencies above were measured on that loaded artifact.</p>"
        "<table><tr><th class='l'>candidate</th><th class='l'>compression</th>"
        f"<th class='l'>single-row path</th></tr>{''.join(rows)}</table>"
    ]
    measured = [(name, c, d) for c in run.candidates for name, d in c.devices.items()]
    if measured:
        body = "".join(
            f"<tr><td class='l'>{_e(name)}</td><td class='l'>{_e(c.key)}</td>"
            f"<td>{format_quantity(d['latency']['p50_ms'], 'ms')}</td>"
            f"<td>{format_quantity(d['latency']['p99_ms'], 'ms')}</td>"
            f"<td>{format_quantity(max(b['rows_per_s'] for b in d['batches'].values()), 'rows/s')}</td>"
            f"<td>{format_quantity(d['load_ms'], 'ms')}</td>"
            f"<td class='l'>{_e(d['hardware'].get('cpu_model'))}</td></tr>"
            for name, c, d in measured
        )
        html_parts.append(
            "<h3>Measured on target machines</h3><table><tr><th class='l'>device</th>"
            "<th class='l'>candidate</th><th>p50 latency</th><th>p99 latency</th><th>throughput</th>"
            f"<th>load</th><th class='l'>CPU</th></tr>{body}</table>"
        )
    return "".join(html_parts)


def build_report(run: Run) -> str:
    """The report as one HTML string (about 5 MB: the plotly library is inlined)."""
    rec = run.recommendation or run.rank()
    board = run.leaderboard
    dataset = run.dataset
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Advisor report: {_e(dataset['name'])}"
        f"</title><style>{STYLE}</style></head><body>"
    ]
    created = _dt.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    parts.append(
        f"<h1>Model-selection report</h1><p class='muted'>Dataset <b>{_e(dataset['name'])}</b>, target "
        f"<b>{_e(dataset['target'])}</b> ({_e(run.task)}, {dataset['rows']:,} rows), run {_e(run.run_id)}, "
        f"{created}, status {_e(run.status)}.</p>"
    )

    # Recommendation first: it is what stakeholders read.
    from advisor.present.card import recommendation_card

    card = recommendation_card(run)

    def bullets(lines: tuple[str, ...]) -> str:
        return "<ul>" + "".join(f"<li>{_e(t)}</li>" for t in lines) + "</ul>" if lines else ""

    parts.append(
        f"<div class='card{' rec' if card.key else ''}'><h2>{_e(card.headline)}</h2><p>{_e(card.reason)}</p>"
        + bullets(card.notes + card.business)
        + (f"<p>What it gives up or gains:</p>{bullets(card.gives_up)}" if card.gives_up else "")
        + (f"<p>How firm the pick is:</p>{bullets(card.stability)}" if card.stability else "")
        + bullets(card.warnings)
        + "</div>"
    )
    if run.settings.get("helpers"):
        parts.append(f"<p class='muted'>{_e(helpers_message(run.settings['helpers']))}</p>")

    weights = ", ".join(f"{_e(k)} {v:g}" for k, v in rec.weights.items())
    limits = ", ".join(f"{_e(k)} {v:g}" for k, v in rec.limits.items()) or "none"
    parts.append(
        f"<div class='card'><h2>Priorities</h2><p>Deployment target: <b>{_e(run.profile.name)}</b> "
        f"({_e(run.profile.source)})</p><p>Weights (0-5): {weights}</p><p>Hard limits: {limits}</p>"
        f"<p>Primary quality metric: {_e(run.primary_metric)}.</p></div>"
    )

    # Leaderboard
    head = "".join(_header_cell(c, run.primary_metric) for c in BOARD_COLUMNS if c in board.columns)
    body = []
    for row in board.to_dict(orient="records"):
        cells = "".join(
            f"<td class='{'l' if c in ('key', 'family', 'status') else ''}'>{_cell(c, row.get(c))}</td>"
            for c in BOARD_COLUMNS
            if c in board.columns
        )
        body.append(f"<tr class='{'recommended' if row.get('recommended') else ''}'>{cells}</tr>")
    parts.append(
        f"<h2>Leaderboard</h2><div style='overflow-x:auto'><table><tr>{head}</tr>{''.join(body)}</table></div>"
        "<p class='muted'>Latency: one row end to end, 1 thread; throughput: best batch size, 1 thread; "
        "energy and cost: see each candidate's method below.</p>"
    )

    curve = run.learning_curve
    if curve and curve.get("points") and not curve.get("error"):
        rows = "".join(
            f"<tr><td>{p['fraction']:.0%}</td><td>{p['rows']:,}</td><td>{p['primary']:.4f}</td></tr>"
            for p in curve["points"]
        )
        parts.append(
            f"<h2>Would more rows help?</h2><p>{_e(curve['name'])}, {_e(curve['metric'])} on the test split: "
            f"{_e(curve['verdict'])}.</p><table><tr><th>share of training rows</th><th>rows</th>"
            f"<th>{_e(curve['metric'])}</th></tr>{rows}</table><p class='muted'>{_e(curve['method'])}</p>"
        )

    # Charts: the first carries plotly.js so the file opens offline.
    points = pareto_data(run, "p99_ms", "primary")
    parts.append("<h2>Pareto chart: quality against single-row latency</h2>")
    parts.append(_figure_html(pareto_figure(points), include_plotlyjs=True))
    size_points = pareto_data(run, "size_bytes", "primary")
    parts.append("<h2>Quality against size</h2>")
    parts.append(_figure_html(pareto_figure(size_points), include_plotlyjs=False))
    parts.append("<h2>Batch size: latency per call and throughput</h2>")
    parts.append(_figure_html(batch_figure(batch_data(run)), include_plotlyjs=False))
    lab = pareto_data(run, "weight_bytes", "primary")
    if len(lab.points) > 1:
        parts.append(
            "<h2>Compression: quality against the network's stored weights, by lineage</h2>"
            "<p class='muted'>Each colour is a model and its compressed variants; shapes tell the kind "
            "of compression.</p>"
        )
        parts.append(_figure_html(pareto_figure(lab, colour_by="lineage"), include_plotlyjs=False))
    parts.append(_deployment_section(run))

    # Data summary
    rows = "".join(
        f"<tr><td class='l'>{_e(c['name'])}</td><td class='l'>{_e(c['role'])}</td><td>{c['n_unique']:,}</td>"
        f"<td>{c['n_missing']:,}</td><td class='l'>{_e(c.get('note', ''))}</td></tr>"
        for c in dataset["columns"]
    )
    notes = "".join(f"<li>{_e(w)}</li>" for w in dataset.get("warnings", []))
    split = run.split
    parts.append(
        f"<h2>Data</h2><p>{dataset['rows']:,} rows: train {split.get('train')}, validation "
        f"{split.get('validation')}, test {split.get('test')} (stratified for classes, fixed seed). "
        f"{dataset.get('features_encoded', '?')} features after encoding.</p>"
        f"<table><tr><th class='l'>column</th><th class='l'>role</th><th>distinct</th><th>missing</th>"
        f"<th class='l'>why</th></tr>{rows}</table><ul>{notes}</ul>"
    )

    # Methods
    hw = run.hardware
    from advisor.version import __version__ as advisor_version

    parts.append(
        f"<h2>How it was measured</h2><p>Advisor {_e(advisor_version)}. Hardware: {_e(hw.get('cpu_model'))}, "
        f"{_e(hw.get('usable_cpus'))} "
        f"usable CPUs; GPU: {_e(hw.get('gpu') or hw.get('gpu_note'))}.</p>"
    )
    for c in run.candidates:
        items = []
        for label, part in (("quality", c.quality), ("latency", c.latency), ("size", c.size), ("start-up", c.startup)):
            if part is not None:
                items.append(f"<li><b>{label}</b>: {_e(part.method)}</li>")
        if c.batches:
            items.append(f"<li><b>batches</b>: {_e(next(iter(c.batches.values())).method)}</li>")
        for label, estimate in (("energy", c.energy(run.profile)), ("cost", c.cost(run.profile))):
            if estimate is not None:
                items.append(f"<li><b>{label}</b>: {_e(estimate.method)}</li>")
        if c.error:
            items.append(f"<li><b>error</b>: {_e(c.error)}</li>")
        parts.append(
            f"<h3>{_e(c.name)} <span class='muted'>({_e(c.key)}, {_e(c.status)})</span></h3>"
            f"<ul class='methods'>{''.join(items)}</ul>"
        )
    parts.append("</body></html>")
    return "".join(parts)
