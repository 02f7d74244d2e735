"""Command line: `python -m advisor run|show|list|catalog|serve|load`. It parses and prints; the library works."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

import advisor
from advisor import AdvisorError, terminal_safe

EXIT_USER_ERROR = 2
WIDTH = 100  # the terminal width `render` lays a run out for
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command ended by SIGPIPE (`advisor list | head`)


def _print(text: str = "", file: TextIO | None = None, flush: bool = False) -> None:
    """Everything the CLI prints goes through here, made terminal-safe."""
    print(terminal_safe(str(text)), file=file or sys.stdout, flush=flush)


def _command(verb: str, *positionals: str, options: Sequence[str] = ()) -> str:
    """A command line to copy, quoted for a POSIX shell. A run id (or path) that starts with '-'
    goes after '--', where argparse no longer takes it for an option."""
    words = ["python -m advisor", verb, *(shlex.quote(o) for o in options)]
    if any(p.startswith("-") for p in positionals):
        words.append("--")
    return " ".join(words + [shlex.quote(p) for p in positionals])


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one sentence, like every other user error."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._given = list(sys.argv[1:] if args is None else args)  # for the hint in `error`
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        options = {o for action in self._actions for o in action.option_strings}
        dashed = [
            a for a in getattr(self, "_given", []) if a.startswith("-") and advisor.is_run_id(a) and a not in options
        ]
        hint = (
            f"; a run id that starts with '-' goes last, after '--', e.g. '{self.prog} [options] -- {dashed[0]}'"
            if dashed and any(action.dest == "run" for action in self._actions)  # show, export, report, ...
            else ""
        )
        self.exit(EXIT_USER_ERROR, terminal_safe(f"error: {message}{hint}; see '{self.prog} --help'.") + "\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m advisor", description="Model-selection advisor for inference.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="train, measure and recommend on a dataset")
    run.add_argument("data", help="CSV, CSV.gz, Parquet or XLSX file")
    run.add_argument("--target", required=True, help="the column to predict")
    run.add_argument("--out", help="folder for results.json and leaderboard.csv")
    _ranking_options(run)
    run.add_argument("--task", choices=["auto", "binary", "multiclass", "regression", "classification"], default="auto")
    run.add_argument(
        "--metric", help="primary quality metric (default: accuracy, balanced_accuracy when imbalanced, r2)"
    )
    run.add_argument("--candidates", help="comma-separated catalog keys (default: the default catalog)")
    run.add_argument("--families", help="comma-separated families to include, e.g. linear,boosting")
    run.add_argument(
        "--budget", type=float, help="time budget in seconds. " + advisor.Budget.rules().replace("%", "%%")
    )
    run.add_argument("--seed", type=int, default=advisor.RunPlan.default("seed"))
    run.add_argument("--quick", action="store_true", help="fewer timed calls (rough p99): for a first look only")
    run.add_argument(
        "--precision-tolerance",
        type=float,
        metavar="PP",
        help="how many percentage points of the primary metric the precision sweep may lose (0.5)",
    )
    run.add_argument(
        "--miss-cost",
        type=float,
        metavar="N",
        help="binary tasks: a missed positive costs N false alarms; the decision threshold minimises that cost "
        "on the validation split (default: it maximises the primary metric)",
    )
    run.add_argument("--store", help="run store folder (default: $ADVISOR_HOME or ./advisor_runs)")
    run.add_argument(
        "--serve-check",
        action="store_true",
        help="after timing, serve each Pareto-front candidate over HTTP (one worker) and find the highest request "
        "rate within the p99 bound (about 45 s a candidate)",
    )
    run.add_argument("--all", action="store_true", help="print every column of the table (wider than 100 columns)")
    _limit_options(run)

    resume = commands.add_parser("resume", help="finish an interrupted run: keep what it committed, train the rest")
    resume.add_argument("run", help="the run id ('list' shows interrupted runs)")
    resume.add_argument("--store", help="run store folder")
    resume.add_argument("--quick", action="store_true", help="fewer timed calls (rough p99)")
    resume.add_argument("--out", help="folder for results.json and leaderboard.csv")

    show = commands.add_parser("show", help="reprint a saved run, optionally re-ranked")
    show.add_argument("run", help="a run id, an --out folder, or a results.json file")
    _ranking_options(show)
    show.add_argument("--store", help="run store folder")
    show.add_argument("--methods", action="store_true", help="also print how every figure was measured")
    show.add_argument("--all", action="store_true", help="every column of the table (wider than 100 columns)")

    export = commands.add_parser("export", help="write a candidate as a deployable, verified artifact (.zip)")
    export.add_argument("run", help="a run id, an --out folder, or a results.json file")
    export.add_argument(
        "candidate", help="the candidate's key, e.g. lightgbm (default: the recommended one)", nargs="?"
    )
    export.add_argument("--out", required=True, help="the artifact to write, e.g. model.zip")
    export.add_argument("--store", help="run store folder")

    measure = commands.add_parser("measure", help="time an artifact on this machine (run it on the target)")
    measure.add_argument("artifact", help="an exported artifact, e.g. model.zip")
    measure.add_argument("--rows", required=True, help="a CSV, CSV.gz, Parquet or XLSX file of rows to time it on")
    measure.add_argument("--out", required=True, help="where to write the measurement, e.g. device.json")
    measure.add_argument("--name", help="a name for this machine (default: host name and CPU model)")
    measure.add_argument("--quick", action="store_true", help="fewer timed calls (rough p99)")
    measure.add_argument(
        "--trust",
        action="store_true",
        help="also load a model stored as a Python pickle (artifacts from before format 2, plug-in models): "
        "a pickle can run any code, so only for artifacts you or your own run produced",
    )

    serve = commands.add_parser("serve", help="serve an artifact over HTTP: POST /predict, GET /health, /schema")
    serve.add_argument("artifact", help="an exported artifact, e.g. model.zip")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--max-batch", type=int, default=32, help="most rows per batch (default 32; 1: no batching)")
    serve.add_argument("--max-wait-ms", type=float, default=0.0, help="longest wait for a batch to fill (default 0)")
    serve.add_argument("--max-body-mb", type=float, default=1.0, help="largest request body (default 1 MB)")
    serve.add_argument("--max-rows", type=int, default=1000, help="most rows in one request (default 1000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes, each with the model (default 1)")
    serve.add_argument("--threads", type=int, default=1, help="the model's threads per worker (default 1)")
    serve.add_argument("--max-queue", type=int, default=2048, help="most requests waiting; more get 503 (default 2048)")
    serve.add_argument("--access-log", action="store_true", help="log every request")

    load = commands.add_parser("load", help="the highest request rate a served model answers within a p99 bound")
    load.add_argument("url", help="the server's predict address, e.g. http://127.0.0.1:8000/predict")
    load.add_argument("--rows", required=True, help="a CSV, CSV.gz, Parquet or XLSX file: one row per request")
    load.add_argument("--p99-ms", type=float, required=True, help="the bound on p99 latency in ms, e.g. 10")
    load.add_argument("--mode", choices=["open", "closed"], default="open", help="open: Poisson arrivals (default)")
    load.add_argument("--rate", type=float, help="open loop: measure this rate (requests/s) only, no search")
    load.add_argument("--concurrency", type=int, help="closed loop: measure this many clients only, no search")
    load.add_argument("--duration", type=float, default=2.0, help="seconds per measurement window (default 2)")
    load.add_argument("--processes", type=int, help="client processes (default: one per 4 cores, 1 to 4)")
    load.add_argument("--out", help="where to write the result as JSON, e.g. load.json")

    importer = commands.add_parser("import", help="add a device measurement (from 'measure') to its run")
    importer.add_argument("run", help="the run the artifact came from: a run id or its --out folder")
    importer.add_argument("measurement", help="the JSON file 'measure' wrote")
    importer.add_argument("--store", help="run store folder")

    report = commands.add_parser("report", help="write the self-contained HTML report of a run")
    report.add_argument("run", help="a run id, an --out folder, or a results.json file")
    report.add_argument(
        "--out", "--html", dest="html", required=True, help="where to write the report, e.g. report.html"
    )
    _ranking_options(report)
    report.add_argument("--store", help="run store folder")

    listing = commands.add_parser("list", help="list saved runs")
    listing.add_argument("--store", help="run store folder")

    commands.add_parser("catalog", help="list candidates and deployment targets")
    return parser


def _limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train the candidates on this Dask cluster, e.g. tcp://10.0.0.5:8786 (or set ADVISOR_DASK_SCHEDULER)",
    )
    parser.add_argument(
        "--measure-on",
        metavar="WORKER",
        help="time every candidate on this Dask worker (the deployment hardware), e.g. tcp://10.0.0.7:40123",
    )
    parser.add_argument("--jobs", type=int, help="candidates trained at once on this machine (default 1)")
    parser.add_argument(
        "--row-budget",
        type=int,
        default=advisor.RunPlan.default("row_budget"),
        metavar="ROWS",
        help="train on a stratified sample of this many rows when there are more (%(default)s; the test split "
        "stays whole)",
    )
    parser.add_argument("--no-learning-curve", action="store_true", help="skip retraining at 25%% and 50%% of the rows")
    parser.add_argument(
        "--candidate-timeout",
        type=float,
        default=advisor.RunPlan.default("candidate_time_limit_s"),
        metavar="S",
        help="stop a candidate that trains longer than this and record it as failed (%(default)g)",
    )
    parser.add_argument(
        "--candidate-memory",
        type=float,
        metavar="MB",
        help="stop a candidate whose process uses more memory than this (default: 80%% of this machine's)",
    )


def _limits_help() -> str:
    """Every hard limit, how it bounds and the unit it is typed in (from `advisor.LIMITS`)."""
    parts = []
    for limit in advisor.LIMITS.values():
        bound = "at most" if limit.kind == "max" else "at least"
        unit = limit.unit or "the primary metric's own; at most on an error metric such as rmse"
        parts.append(f"{limit.name} ({bound}, {unit})")
    return "hard limit, repeatable: " + ", ".join(parts)


def _ranking_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--priorities",
        help=f"weights 0-5 for {', '.join(advisor.OBJECTIVES)}, e.g. accuracy=5,latency=3,size=1 (others 0)",
    )
    parser.add_argument(
        "--limit", action="append", default=None, metavar="NAME=VALUE", help=_limits_help().replace("%", "%%")
    )
    parser.add_argument("--profile", help="deployment target: cloud-cpu, cloud-gpu, laptop, phone, sensor")
    parser.add_argument("--device", help="rank on the figures imported from this target machine ('import')")
    parser.add_argument(
        "--target-set",
        action="append",
        default=None,
        metavar="FIELD=VALUE",
        help="override a figure of the deployment target, repeatable: e.g. usd_per_hour=0.05, "
        "watts_per_core=5, cores=4, usd_per_kwh=0.3, predictions_per_month=50000000 (cost is shown per month "
        "at this volume), peak_rows_per_s=500",
    )


def _profile(args: argparse.Namespace) -> Any:
    """The deployment target, with the user's own figures where given (--target-set)."""

    profile = advisor.get_target(args.profile or "cloud-cpu")
    changes: dict[str, float] = {}
    for item in args.target_set or []:
        name, _, raw = item.partition("=")
        try:
            changes[name.strip()] = float(raw)
        except ValueError:
            raise advisor.ConfigError(f"--target-set '{item}' needs a number, e.g. usd_per_hour=0.05.") from None
    return profile.override(**changes) if changes else profile


def _opened(args: argparse.Namespace) -> Any:
    """The run named on the command line, re-ranked by whatever ranking options were given."""

    run = advisor.open_run(args.run, store=args.store)
    if args.priorities or args.limit or args.profile or args.target_set or args.device:
        profile = _profile(args) if (args.profile or args.target_set) else None
        run = run.rerank(priorities=args.priorities, limits=args.limit, profile=profile, device=args.device)
    return run


def _split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _duration(seconds: float) -> str:
    """Time left as people say it: '40 s', '3 min', '1 h 20 min' (the estimate is not finer)."""
    if seconds < 60:
        return f"{max(5, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60)} min"


def _progress(event: Any) -> None:
    """One line per event: the whole run's share done, what it is doing, and the time left."""
    if event.phase == "epoch" and not event.message.startswith("epoch 1/") and "epoch" in event.message:
        return  # one line per candidate is enough on a terminal
    counted = (
        f" ({event.done} of {event.total} {event.unit})" if event.total and event.unit not in ("", "steps") else ""
    )
    eta = f", about {_duration(event.eta_s)} left" if event.eta_s else ""
    _print(f"[{event.fraction:4.0%}] {event.message}{counted}{eta}", file=sys.stderr, flush=True)


def _wrap(text: str, indent: str = "", hanging: str = "  ") -> list[str]:
    """A paragraph wrapped at WIDTH columns; a word longer than that (a path, a URL) stays whole."""
    lines = textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return lines or [""]


def _shared_unit(cells: Sequence[str]) -> str | None:
    """The words every figure of a column ends with ('us', 'rows/s', 'a month'), if they all do."""
    endings = {cell.partition(" ")[2] for cell in cells if cell and cell != "-"}
    if len(endings) != 1:
        return None
    (ending,) = endings
    return ending if ending and not any(ch.isdigit() for ch in ending) else None


def _table_lines(table: advisor.TableView, width: int | None = None) -> list[str]:
    """A view's table for the terminal: short headings, the cells as written, figures right-aligned.
    With `width`, a unit every cell of a column shares moves to its heading, and the last columns
    are left out while a line would be wider."""
    headings = [column.short for column in table.columns]
    rows = [list(row.cells) for row in table.rows]
    if width is not None:
        for i, column in enumerate(table.columns):
            unit = None if column.text else _shared_unit([row[i] for row in rows])
            if unit is None:
                continue
            for row in rows:
                row[i] = row[i].partition(" ")[0] if row[i] != "-" else row[i]
            if unit.split()[-1] not in headings[i]:
                headings[i] = f"{headings[i]} ({unit})"
    columns = list(range(len(table.columns)))

    def laid_out(keep: list[int]) -> list[str]:
        grid = [[headings[i] for i in keep], *([row[i] for i in keep] for row in rows)]
        widths = [max(len(line[j]) for line in grid) for j in range(len(keep))]
        return [
            "  ".join(
                cell.ljust(w) if table.columns[i].text else cell.rjust(w)
                for cell, w, i in zip(line, widths, keep, strict=True)
            ).rstrip()
            for line in grid
        ]

    lines = laid_out(columns)
    while width is not None and len(columns) > 3 and max(len(line) for line in lines) > width:
        columns.pop()
        lines = laid_out(columns)
    return lines


def render(run: Any, methods: bool = False, all_columns: bool = False) -> str:
    """The run as text: what `advisor.run_view` gathered, laid out for a terminal WIDTH columns
    wide (the compact table; `all_columns` prints every column, however wide)."""
    view = advisor.run_view(run)
    lines = [
        *_wrap(f"Run {view.run_id} ({view.status}): {view.summary}"),
        *_wrap(f"Hardware: {view.hardware}"),
        *_wrap(f"Target: {view.profile}; primary metric: {view.primary_metric}"),
    ]
    if view.device_note:
        lines.extend(_wrap(view.device_note))
    for note in view.notes:
        lines.extend(_wrap(f"Note: {note}"))
    if all_columns:
        lines.extend(_table_lines(view.table))
    else:
        lines.extend(_table_lines(view.table.compact(), width=WIDTH))
        lines.extend(_wrap("Every column: add --all (show, run); what each means: the HTML report (report)."))
    lines.extend(_wrap(view.table.legend))
    for failure in view.failures:
        lines.extend(_wrap(failure))
    if view.curve:
        shown = "; ".join(f"{p.fraction_text} ({p.rows_text}) {p.primary_text}" for p in view.curve.points)
        lines.extend(_wrap(f"Learning curve, {view.curve.sentence} Points: {shown}."))
    card = view.card
    lines.append("")
    if card.key:
        lines.extend(_wrap(f"{card.headline} ({card.key})"))
        lines.extend(_wrap(card.reason))
        for text in (*card.notes, *card.business, *card.serving):
            lines.extend(_wrap(text, "  "))
        if card.gives_up:
            lines.append("What it gives up or gains:")
            for text in card.gives_up:
                lines.extend(_wrap(text, "  "))
        if card.stability:
            lines.append("How firm the pick is:")
            for text in card.stability:
                lines.extend(_wrap(text, "  "))
        if len(view.shortlist.rows) > 1:
            lines.append("Shortlist (by weighted score):")
            lines.extend("  " + line for line in _table_lines(view.shortlist, width=WIDTH - 2))
    else:
        lines.extend(_wrap(card.reason))
    for text in card.warnings:
        lines.extend(_wrap("Note: " + text))
    if methods:
        lines.append("")
        lines.append("How each figure was obtained:")
        for candidate in view.methods:
            lines.append(f"[{candidate.key}]")
            for label, method in candidate.rows:
                lines.extend(_wrap(f"{label}: {method}", "  "))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit: a reader that left is noticed while it can be handled
        return code
    except BrokenPipeError:
        # The reader of the output went away (`advisor list | head -1`): stop quietly, like the
        # shell's own tools. What is still buffered goes to /dev/null, so the interpreter's last
        # flush at exit cannot fail again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # stdout is not a file (a test captures it)
            pass
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:

    args = _build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except AdvisorError as exc:
        _print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # the last safety net for a full disk or a read-only folder anywhere
        message = advisor.disk_error(exc)
        if message is None:
            raise
        _print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _print("interrupted: candidates finished so far are saved in the run store.", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:

    if args.command == "run":
        if args.device:
            raise advisor.ConfigError("--device ranks on figures imported into a finished run; use it with show.")
        plan = advisor.RunPlan.make(
            priorities=args.priorities,
            limits=args.limit,
            profile=_profile(args),
            candidates=_split(args.candidates),
            families=_split(args.families),
            budget_s=args.budget,
            seed=args.seed,
            row_budget=args.row_budget,
            timing=advisor.QUICK_TIMING if args.quick else advisor.TimingConfig(),
            candidate_time_limit_s=args.candidate_timeout,
            candidate_memory_limit_mb=args.candidate_memory,
            precision_tolerance_pp=args.precision_tolerance,
            miss_cost=args.miss_cost,
            with_learning_curve=not args.no_learning_curve,
            serve_check=args.serve_check,
        )
        run = advisor.advise(
            args.data,
            args.target,
            plan=plan,
            task=args.task,
            primary_metric=args.metric,
            out=args.out,
            store=args.store,
            progress=_progress,
            scheduler=args.scheduler,
            jobs=args.jobs,
            measure_on=args.measure_on,
        )
        _print(render(run, all_columns=args.all))
        if args.out:
            _print()
            for line in _wrap(f"Saved: {args.out}/results.json (run id {run.run_id}); reopen it with:"):
                _print(line)
            _print(f"  {_command('show', args.out)}")  # a command to copy stays on one line
        return 0
    if args.command == "resume":
        run = advisor.resume(
            args.run, store=args.store, timing=advisor.QUICK_TIMING if args.quick else None, progress=_progress
        )
        if args.out:
            run.save_json(args.out)
        _print(render(run))
        return 0
    if args.command == "show":
        run = _opened(args)
        _print(render(run, methods=args.methods, all_columns=args.all))
        return 0
    if args.command == "export":
        run = advisor.open_run(args.run, store=args.store)
        key = args.candidate or (run.recommendation.key if run.recommendation else None)
        if key is None:
            raise advisor.ConfigError("This run recommends no candidate; name the one to export.")
        path = advisor.export(run, key, args.out)  # a full disk or read-only folder: one sentence naming it
        size = advisor.format_quantity(path.stat().st_size, "B")
        _print(f"Wrote {path} ({size}): candidate {key} of run {run.run_id}.")
        _print(f"Load it with: advisor.load_artifact({str(path)!r}).predict(rows)")
        return 0
    if args.command == "measure":
        import json

        rows, _ = advisor.load_table(args.rows)
        timing = advisor.QUICK_TIMING if args.quick else advisor.TimingConfig()
        result = advisor.measure_artifact(args.artifact, rows, name=args.name, timing=timing, trust=args.trust)
        advisor.write_file(args.out, json.dumps(result, indent=2))
        latency = result["latency"]
        _print(
            f"{result['device']}: {result['artifact']['key']} loads in "
            f"{advisor.format_quantity(result['load_ms'], 'ms')}, one row p50 "
            f"{advisor.format_quantity(latency['p50_ms'], 'ms')}, "
            f"p99 {advisor.format_quantity(latency['p99_ms'], 'ms')}; written to {args.out}. Import it with: "
            f"{_command('import', str(result['artifact']['run_id']), args.out)}"
        )
        return 0
    if args.command == "serve":
        advisor.run_server(
            args.artifact,
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=args.access_log,
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            max_body_bytes=int(args.max_body_mb * 1_000_000),
            max_rows=args.max_rows,
            threads=args.threads,
            max_queue=args.max_queue,
        )
        return 0
    if args.command == "load":
        rows, _ = advisor.load_table(args.rows)
        progress = lambda point: _print(point.summary(), file=sys.stderr, flush=True)  # noqa: E731
        options = dict(mode=args.mode, rate_rps=args.rate, concurrency=args.concurrency, processes=args.processes)
        result = advisor.load_test(args.url, rows, args.p99_ms, window_s=args.duration, progress=progress, **options)
        if args.out:
            advisor.write_file(args.out, result.to_json())
        for line in result.summary_lines() + ([f"Written to {args.out}."] if args.out else []):
            for wrapped in _wrap(line):
                _print(wrapped)
        return 0
    if args.command == "import":
        from pathlib import Path

        # What the file is comes first (a foreign file named as the measurement), then the run, then
        # the measurement's figures.
        measurement = advisor.read_device_measurement(args.measurement, check=False)
        run = advisor.open_run(args.run, store=args.store)
        key = advisor.attach_device(run, measurement, name=args.measurement)
        folder = Path(args.run)
        if folder.is_dir() and (folder / "results.json").is_file():
            run.save_json(folder)
        root = args.store or run.store_root
        if root is None or Path(root).is_dir():  # a results.json from another machine names a store not here
            store = advisor.Store(root)
            try:
                store.load_run(run.run_id)
                position = [c.key for c in run.candidates].index(key)
                result = run.candidate(key)
                store.save_candidate(run.run_id, key, position, result.status, result.to_dict())
            except advisor.RunNotFound:
                pass
        _print(
            f"Added {measurement['device']}'s figures to {key} in run {run.run_id}; rank on them with: "
            f"{_command('show', args.run, options=['--device', measurement['device']])}"
        )
        return 0
    if args.command == "report":
        run = _opened(args)
        path = advisor.write_file(args.html, advisor.build_report(run))
        _print(f"Wrote {path} ({advisor.format_quantity(path.stat().st_size, 'B')}; opens offline).")
        return 0
    if args.command == "list":
        runs = advisor.Store(args.store).list_runs()
        if not runs:
            _print("No runs yet.")
        for r in runs:
            _print(
                f"{r['run_id']}  {r['status']:<11} {r['dataset']} -> {r['target']} ({r['task']}), "
                f"{r['candidates']} candidates, recommended: {r['recommended'] or '-'}"
                + (f"  (resume with: {_command('resume', r['run_id'])})" if r["status"] == "interrupted" else "")
            )
        return 0
    registry = advisor.load_candidates()
    _print("Candidates:")
    for spec in registry:
        _print(f"  {spec.key:<16} {spec.family:<9} {spec.name}{'' if spec.default else ' (not in default runs)'}")
    _print("Deployment targets:")
    for profile in advisor.load_targets().values():
        _print(
            f"  {profile.key:<10} {profile.name}: ${profile.usd_per_hour}/h, {profile.watts_per_core} W/core, "
            f"{profile.memory_budget_mb} MB budget, p99 <= {profile.latency_p99_ms} ms"
        )
    return 0
