"""A self-contained HTML report of a run, for stakeholders: it opens offline (plotly inlined).

Every string that came from the user (file name, column names, values) is escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
from typing import Any

from advisor.present.charts import batch_data, batch_figure, pareto_data, pareto_figure
from advisor.present.numbers import format_quantity
from advisor.present.serving_chart import serving_data, serving_figure, serving_rows
from advisor.present.text import markdown_code, markdown_text  # noqa: F401 - re-exported for the report's users
from advisor.present.view import ColumnView, RunView, TableView, run_view
from advisor.results import Run

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem} h1{margin-bottom:.2rem} .muted{color:#666}
.card{border:1px solid #ddd;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
.rec{border-color:#2ca02c;background:#f4fbf4} table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:right} th{background:#fafafa}
td.l,th.l{text-align:left} tr.recommended td{font-weight:600;background:#f4fbf4} code{font-size:.85rem}
.methods li{margin:.2rem 0;font-size:.85rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _figure_html(figure: Any, include_plotlyjs: bool) -> str:
    text = figure.to_html(include_plotlyjs=include_plotlyjs, full_html=False, config={"displaylogo": False})
    return text


def _header_cell(column: ColumnView) -> str:
    better = f"<br>{column.direction} is better" if column.direction else ""
    return f"<th class='{'l' if column.text else ''}' title='{_e(column.meaning)}'>{_e(column.header)}{better}</th>"


def _table(table: TableView) -> str:
    """A view's table as HTML: its headers with units, its cells as written, the recommended row marked."""
    head = "".join(_header_cell(column) for column in table.columns)
    body = "".join(
        f"<tr class='{'recommended' if row.recommended else ''}'>"
        + "".join(
            f"<td class='{'l' if column.text else ''}'>{_e(cell)}</td>"
            for column, cell in zip(table.columns, row.cells, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<div style='overflow-x:auto'><table><tr>{head}</tr>{body}</table></div>"


def _bullets(lines: tuple[str, ...]) -> str:
    return "<ul>" + "".join(f"<li>{_e(t)}</li>" for t in lines) + "</ul>" if lines else ""


def _card_section(view: RunView) -> str:
    card = view.card
    shortlist = (
        f"<p>Shortlist (top {len(view.shortlist.rows)} by weighted score):</p>{_table(view.shortlist)}"
        if card.key and len(view.shortlist.rows) > 1
        else ""
    )
    return (
        f"<div class='card{' rec' if card.key else ''}'><h2>{_e(card.headline)}</h2><p>{_e(card.reason)}</p>"
        + _bullets(card.notes + card.business + card.serving)
        + (f"<p>What it gives up or gains:</p>{_bullets(card.gives_up)}" if card.gives_up else "")
        + (f"<p>How firm the pick is:</p>{_bullets(card.stability)}" if card.stability else "")
        + _bullets(card.warnings)
        + shortlist
        + "</div>"
    )


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


def _methods_section(view: RunView) -> str:
    """How each figure was obtained, each distinct method said once with the candidates it applies to
    ('every candidate' when all share it), by figure in reading order."""
    everyone = len(view.methods)
    statuses = {m.key: m.status for m in view.methods}
    parts = []
    for label in dict.fromkeys(group.label for group in view.method_groups):
        items = "".join(
            "<li><span class='muted'>"
            + (
                f"every candidate ({everyone})"
                if len(group.keys) == everyone and everyone > 1
                else _e(", ".join(group.keys))
            )
            + f"</span>: {_e(group.method)}</li>"
            for group in view.method_groups
            if group.label == label
        )
        parts.append(f"<h3>{_e(label)}</h3><ul class='methods'>{items}</ul>")
    unmeasured = [key for key, status in statuses.items() if status != "measured"]
    if unmeasured:
        parts.append(
            "<p class='muted'>Not measured end to end: "
            + _e(", ".join(f"{key} ({statuses[key]})" for key in unmeasured))
            + ".</p>"
        )
    return "".join(parts)


def build_report(run: Run) -> str:
    """The report as one HTML string (about 5 MB: the plotly library is inlined)."""
    view = run_view(run)
    dataset = run.dataset
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Advisor report: {_e(view.dataset)}"
        f"</title><style>{STYLE}</style></head><body>"
    ]
    created = _dt.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    parts.append(
        f"<h1>Model-selection report</h1><p class='muted'>Dataset <b>{_e(view.dataset)}</b>, target "
        f"<b>{_e(view.target)}</b> ({_e(view.task)}, {format_quantity(dataset['rows'], 'count')} rows), run "
        f"{_e(view.run_id)}, {created}, status {_e(view.status)}.</p>"
    )

    # The summary, then the recommendation: what stakeholders read.
    parts.append(f"<div class='card summary'><h2>Summary</h2><p>{_e(view.overview)}</p></div>")
    parts.append(_card_section(view))
    if view.helpers:
        parts.append(f"<p class='muted'>{_e(view.helpers)}</p>")

    parts.append(
        f"<div class='card'><h2>Priorities</h2><p>Deployment target: <b>{_e(run.profile.name)}</b> "
        f"({_e(run.profile.source)})</p><p>Weights (0-5): {_e(view.weights)}</p><p>Hard limits: {_e(view.limits)}</p>"
        f"<p>Primary quality metric: {_e(view.primary_metric)}.</p>"
        + (f"<p>{_e(view.device_note)}</p>" if view.device_note else "")
        + "</div>"
    )

    parts.append(
        f"<h2>Leaderboard</h2>{_table(view.table)}<p class='muted'>{_e(view.table.legend)}</p>"
        + "".join(f"<p class='muted'>{_e(failure)}</p>" for failure in view.failures)
    )

    curve = view.curve
    if curve:
        rows = "".join(
            f"<tr><td>{_e(p.fraction_text)}</td><td>{_e(p.rows_text)}</td><td>{_e(p.primary_text)}</td></tr>"
            for p in curve.points
        )
        parts.append(
            f"<h2>Would more rows help?</h2><p>{_e(curve.sentence)}</p><table><tr><th>share of training rows</th>"
            f"<th>rows</th><th>{_e(curve.metric)}</th></tr>{rows}</table><p class='muted'>{_e(curve.method)}</p>"
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
    served = serving_data(run)
    if served.series:
        blocks = "".join(
            f"<h3>{_e(title)}</h3><table>"
            + "".join(f"<tr><td class='l'>{_e(label)}</td><td>{_e(value)}</td></tr>" for label, value in rows)
            + "</table>"
            for title, rows in serving_rows(run)
        )
        parts.append(
            "<h2>Served over HTTP: p99 against offered load</h2><p class='muted'>The serving check: each "
            "Pareto-front candidate served from its artifact on one worker and loaded with Poisson arrivals; "
            "lines are measured, open markers the queueing estimate from the in-process figures.</p>"
            + _figure_html(serving_figure(served), include_plotlyjs=False)
            + blocks
        )
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
    split = run.split
    parts.append(
        f"<h2>Data</h2><p>{dataset['rows']:,} rows: train {split.get('train')}, validation "
        f"{split.get('validation')}, test {split.get('test')} (stratified for classes, fixed seed). "
        f"{dataset.get('features_encoded', '?')} features after encoding.</p>"
        f"<table><tr><th class='l'>column</th><th class='l'>role</th><th>distinct</th><th>missing</th>"
        f"<th class='l'>why</th></tr>{rows}</table>{_bullets(view.data_notes)}"
    )

    # Methods
    from advisor.version import __version__ as advisor_version

    parts.append(f"<h2>How it was measured</h2><p>Advisor {_e(advisor_version)}. Hardware: {_e(view.hardware)}.</p>")
    parts.append(_methods_section(view))
    parts.append("</body></html>")
    return "".join(parts)
