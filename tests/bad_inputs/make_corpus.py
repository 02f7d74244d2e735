"""The bad-input corpus: files a user might upload, each with the target to use and what must happen.

    python tests/bad_inputs/make_corpus.py    # rewrites every small file and MANIFEST.json

Each case is a builder that returns the file's bytes (deterministic: fixed seeds, fixed zip
and gzip timestamps). A case either `runs` (a sensible dataset, perhaps with warnings that
name what was odd) or is refused with an `error`: the `AdvisorError` subclass and words its
one sentence must contain. Files over about 200 KB are not committed (`large=True`): the tests
build them into a temporary folder with `build()`.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import pickle
import random
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "MANIFEST.json"
ROWS = 60
CITIES = ("Lyon", "Paris", "Nantes", "Lille")


@dataclass(frozen=True)
class Case:
    file: str
    target: str
    build: Callable[[], bytes]
    about: str
    error: str | None = None  # the AdvisorError subclass when the file must be refused
    message: str = ""  # words that sentence must contain (besides the file's name)
    warnings: tuple[str, ...] = ()  # words that some warning of a run must contain, one entry each
    roles: dict[str, str] = field(default_factory=dict)  # column -> the role it must get
    task: str | None = None  # the task it must be detected as, where that is the point of the case
    large: bool = False  # built at test time, not committed
    max_bytes: int | None = None  # the size limit to load it with (the app's upload limit)

    @property
    def outcome(self) -> str:
        return "runs" if self.error is None else "error"

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"file": self.file, "target": self.target, "outcome": self.outcome}
        if self.error:
            entry |= {"error": self.error, "message": self.message}
        if self.warnings:
            entry["warnings"] = list(self.warnings)
        if self.roles:
            entry["roles"] = self.roles
        if self.task:
            entry["task"] = self.task
        if self.large:
            entry["large"] = True
        if self.max_bytes is not None:
            entry["max_bytes"] = self.max_bytes
        entry["about"] = self.about
        return entry


CASES: dict[str, Case] = {}


def case(file: str, target: str = "label", **options: Any) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        assert file not in CASES, file
        about = " ".join((build.__doc__ or "").split())
        CASES[file] = Case(file, target, build, about, **options)
        return build

    return register


# --------------------------------------------------------------------------- helpers


def rows(n: int = ROWS, seed: int = 0) -> list[dict[str, Any]]:
    """A small, learnable table: label is mostly 'yes' when score is high."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        score = round(rng.uniform(0, 100), 2)
        out.append(
            {
                "age": rng.randint(18, 80),
                "city": CITIES[i % len(CITIES)],
                "score": score,
                "label": "yes" if score + rng.gauss(0, 10) > 50 else "no",
            }
        )
    return out


def table(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = list(records[0])
    return header, [[r[c] for c in header] for r in records]


def text(header: Sequence[Any], body: Sequence[Sequence[Any]], sep: str = ",", eol: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=eol)
    writer.writerow(header)
    writer.writerows(body)
    return buffer.getvalue()


def csv_bytes(records: Sequence[dict[str, Any]], sep: str = ",", eol: str = "\n", encoding: str = "utf-8") -> bytes:
    return text(*table(records), sep=sep, eol=eol).encode(encoding)


def with_column(name: str, values: Callable[[int, dict[str, Any]], Any], n: int = ROWS) -> list[dict[str, Any]]:
    return [{**r, name: values(i, r)} for i, r in enumerate(rows(n))]


def european(number: float, decimals: int = 2) -> str:
    """A number as a decimal-comma locale writes it: 3967.1 -> '3.967,1'."""
    whole, fraction = f"{number:,.{decimals}f}".split(".")
    return f"{whole.replace(',', '.')},{fraction}"


def fixed_zip(raw: bytes) -> bytes:
    """The same zip with every entry's timestamp fixed, so xlsx files regenerate byte for byte."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time as 'modified'
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2024-01-01T00:00:00Z", data)
            target.writestr(zipfile.ZipInfo(info.filename, (2024, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def xlsx(sheets: dict[str, Sequence[Sequence[Any]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, lines in sheets.items():
        sheet = book.create_sheet(title)
        for line in lines:
            sheet.append(list(line))
    book.properties.created = book.properties.modified = dt.datetime(2024, 1, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    return fixed_zip(buffer.getvalue())


def xlsx_of(records: Sequence[dict[str, Any]]) -> bytes:
    header, body = table(records)
    return xlsx({"Data": [header, *body]})


def parquet(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def frame_of(records: Sequence[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(list(records))


def gzipped(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def noise(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


# --------------------------------------------------------------------------- empty and tiny


@case("empty.csv", error="EmptyFile", message="is empty")
def empty() -> bytes:
    """0 bytes."""
    return b""


@case("header_only.csv", error="EmptyFile", message="no data rows")
def header_only() -> bytes:
    """A header row and nothing else."""
    return b"age,city,score,label\n"


@case("blank_lines.csv", error="EmptyFile", message="no columns")
def blank_lines() -> bytes:
    """Only blank and whitespace lines."""
    return b"\n\n   \n\t\n"


@case("one_row.csv", error="TooFewRows", message="has 1 row with a value")
def one_row() -> bytes:
    """A header and a single data row."""
    return csv_bytes(rows(1))


@case("too_few_rows.csv", error="TooFewRows", message="20 rows")
def too_few_rows() -> bytes:
    """20 rows, under the 30 the split needs."""
    return csv_bytes(rows(20))


@case("only_target.csv", error="NoFeatures", message="no usable feature column")
def only_target() -> bytes:
    """A single column: the target."""
    return csv_bytes([{"label": r["label"]} for r in rows()])


# --------------------------------------------------------------------------- not text at all


@case("binary_garbage.csv", error="UnreadableFile", message="binary")
def binary_garbage() -> bytes:
    """4 KB of random bytes named .csv."""
    return noise(4096)


@case("pickle_renamed.csv", error="UnreadableFile", message="pickle")
def pickle_renamed() -> bytes:
    """A pickled list of dicts named .csv: it must never be unpickled."""
    return pickle.dumps(rows(), protocol=4)


@case("xlsx_renamed.csv", error="UnreadableFile", message="rename it to .xlsx")
def xlsx_renamed() -> bytes:
    """An Excel workbook named .csv."""
    return xlsx_of(rows())


@case("parquet_renamed.csv", error="UnreadableFile", message="rename it to .parquet")
def parquet_renamed() -> bytes:
    """A Parquet file named .csv."""
    return parquet(frame_of(rows()))


@case("gzip_renamed.csv", error="UnreadableFile", message="rename it to .csv.gz")
def gzip_renamed() -> bytes:
    """A gzip-compressed CSV named .csv."""
    return gzipped(csv_bytes(rows()))


@case("html_page.csv", error="UnreadableFile", message="web page")
def html_page() -> bytes:
    """The web page that links to a dataset, saved instead of the dataset."""
    return b"<!DOCTYPE html>\n<html><head><title>data.csv at main</title></head><body><table></table></body></html>\n"


@case("json_renamed.csv", error="UnreadableFile", message="JSON")
def json_renamed() -> bytes:
    """Records as JSON named .csv."""
    return json.dumps(rows()).encode()


@case("notes.txt", error="UnsupportedFormat", message="'.txt'")
def notes_txt() -> bytes:
    """A perfectly good CSV with the extension .txt."""
    return csv_bytes(rows())


@case("UPPER_CASE.CSV")
def upper_case() -> bytes:
    """An upper-case extension."""
    return csv_bytes(rows())


# --------------------------------------------------------------------------- encodings and bytes


def accented() -> list[dict[str, Any]]:
    cities = ("Besançon", "Orléans", "Nîmes", "Évry")
    return [{**r, "city": cities[i % 4]} for i, r in enumerate(rows())]


@case("latin1.csv", warnings=("not UTF-8",), roles={"city": "categorical"})
def latin1() -> bytes:
    """Latin-1 bytes for accented city names."""
    return csv_bytes(accented(), encoding="latin-1")


@case("cp1252.csv", warnings=("not UTF-8",), roles={"note": "categorical"})
def cp1252() -> bytes:
    """Windows-1252 with a euro sign and curly quotes (bytes 0x80-0x9f, control codes in Latin-1)."""
    notes = ("€ payé", "‘quoted’", "Zürich — north", "naïve")
    return csv_bytes(with_column("note", lambda i, r: notes[i % 4]), encoding="cp1252")


@case("utf16_bom.csv", roles={"city": "categorical", "score": "numeric"})
def utf16_bom() -> bytes:
    """UTF-16 (little-endian) with its byte-order mark, as Excel's 'Unicode text' writes."""
    return csv_bytes(rows(), encoding="utf-16")


@case("utf16_be_bom_tabs.csv", roles={"city": "categorical", "score": "numeric"})
def utf16_be_bom_tabs() -> bytes:
    """UTF-16 big-endian with a byte-order mark and tab separators."""
    return "\ufeff".encode("utf-16-be") + csv_bytes(rows(), sep="\t", encoding="utf-16-be")


@case(
    "utf16_le_no_bom.csv",
    warnings=("UTF-16 (little-endian) text without a byte-order mark",),
    roles={"city": "categorical"},
)
def utf16_le_no_bom() -> bytes:
    """UTF-16 little-endian without a byte-order mark, accented names included."""
    return csv_bytes(accented(), encoding="utf-16-le")


@case(
    "utf16_be_no_bom.csv",
    warnings=("UTF-16 (big-endian) text without a byte-order mark",),
    roles={"city": "categorical"},
)
def utf16_be_no_bom() -> bytes:
    """UTF-16 big-endian without a byte-order mark."""
    return csv_bytes(accented(), encoding="utf-16-be")


@case(
    "utf32_le_no_bom.csv",
    warnings=("UTF-32 (little-endian) text without a byte-order mark",),
    roles={"score": "numeric"},
)
def utf32_le_no_bom() -> bytes:
    """UTF-32 little-endian without a byte-order mark (three zero bytes in four)."""
    return csv_bytes(accented(), encoding="utf-32-le")


@case("utf32_bom.csv", roles={"city": "categorical", "score": "numeric"})
def utf32_bom() -> bytes:
    """UTF-32 with its byte-order mark (which begins like UTF-16's)."""
    return csv_bytes(rows(), encoding="utf-32")


@case("utf8_bom.csv", target="label", roles={"age": "numeric"})
def utf8_bom() -> bytes:
    """UTF-8 with a byte-order mark; the target is the first column."""
    records = [{"label": r["label"], "age": r["age"], "score": r["score"]} for r in rows()]
    return b"\xef\xbb\xbf" + csv_bytes(records)


@case("nul_bytes.csv", warnings=("NUL",), roles={"score": "numeric"})
def nul_bytes() -> bytes:
    """A few NUL bytes inside cells and the header, as a crashed writer leaves them."""
    raw = bytearray(csv_bytes(rows()))
    raw[1:1] = b"\x00"  # in the header's first name
    for position in (300, 700, 1100):
        raw[position:position] = b"\x00"
    return bytes(raw)


@case("crlf.csv", roles={"score": "numeric"})
def crlf() -> bytes:
    """Windows line endings."""
    return csv_bytes(rows(), eol="\r\n")


@case("cr_only.csv", roles={"score": "numeric"})
def cr_only() -> bytes:
    """Old Mac line endings: a bare carriage return."""
    return csv_bytes(rows(), eol="\r")


@case("quoted_newlines.csv", roles={"comment": "categorical"})
def quoted_newlines() -> bytes:
    """Cells with line breaks, commas and quotes inside quotes."""
    return csv_bytes(with_column("comment", lambda i, r: f'line one {i % 7}\nline "two", {r["city"]}\r\nthree'))


@case("unclosed_quote.csv", error="UnreadableFile", message="quote")
def unclosed_quote() -> bytes:
    """A quote opened in row 5 and never closed."""
    lines = csv_bytes(rows()).decode().splitlines()
    lines[5] = lines[5].replace(",", ',"', 1)
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------- delimiters and shape


@case("semicolon.csv", roles={"score": "numeric"})
def semicolon() -> bytes:
    """Semicolon-separated, decimal comma: a European Excel export."""
    records = [{**r, "score": str(r["score"]).replace(".", ",")} for r in rows()]
    return csv_bytes(records, sep=";")


@case("tab.csv", roles={"score": "numeric"})
def tab() -> bytes:
    """Tab-separated values named .csv."""
    return csv_bytes(rows(), sep="\t")


@case("pipe.csv", roles={"score": "numeric"})
def pipe() -> bytes:
    """Pipe-separated values."""
    return csv_bytes(rows(), sep="|")


@case("ragged_long_rows.csv", warnings=("skipped", "line 6"), roles={"score": "numeric"})
def ragged_long_rows() -> bytes:
    """Three rows with more fields than the header."""
    lines = csv_bytes(rows()).decode().splitlines()
    for i in (5, 17, 40):
        lines[i] += ",extra,fields"
    return ("\n".join(lines) + "\n").encode()


@case("ragged_short_rows.csv", warnings=("4 rows have no value in target column",), roles={"score": "numeric"})
def ragged_short_rows() -> bytes:
    """Rows that stop early: their last cells (the target's among them) are missing."""
    lines = csv_bytes(rows()).decode().splitlines()
    for i in (3, 9, 27):
        lines[i] = lines[i].rsplit(",", 1)[0]
    lines[11] = ",".join(lines[11].split(",")[:2])
    return ("\n".join(lines) + "\n").encode()


@case("trailing_separator.csv", warnings=("no name",), roles={"score": "numeric"})
def trailing_separator() -> bytes:
    """Every line ends with a comma: an unnamed, empty last column."""
    lines = csv_bytes(rows()).decode().splitlines()
    return ("\n".join(line + "," for line in lines) + "\n").encode()


@case("preamble.csv", error="UnreadableFile", message="header")
def preamble() -> bytes:
    """Two comment lines before the header: the first line is not the header."""
    return b"# exported by the shop system\n# 2024-01-01\n" + csv_bytes(rows())


@case(
    "headerless.csv",
    target="column_5",
    warnings=("holds data (such as '5.1'), not column names", "named column_1 to column_5"),
    roles={"column_1": "numeric", "column_4": "numeric"},
    task="multiclass",
)
def headerless() -> bytes:
    """No header row: the first line is data (5.1,3.5,1.4,0.2,setosa), as in the classic iris file."""
    rng = random.Random(5)
    species = ("setosa", "versicolor", "virginica")
    body = [[5.1, 3.5, 1.4, 0.2, "setosa"]]
    for i in range(1, ROWS):
        kind = i % 3
        body.append([round(rng.gauss(5 + kind, 0.4), 1), round(rng.gauss(3.2, 0.3), 1)])
        body[-1] += [round(rng.gauss(1.5 + 2 * kind, 0.3), 1), round(rng.gauss(0.3 + kind, 0.2), 1), species[kind]]
    return text(body[0], body[1:]).encode()


@case(
    "repeated_header.csv",
    warnings=("repeat its header row (line 22, 43)",),
    roles={"age": "numeric", "score": "numeric"},
)
def repeated_header() -> bytes:
    """Three exports of 20 rows joined with `cat`: the header comes back on lines 22 and 43."""
    header, body = table(rows())
    return (text(header, body[:20]) + text(header, body[20:40]) + text(header, body[40:])).encode()


@case(
    "european_numbers.csv",
    warnings=("such as '3.967,1'; they were read as numbers ('3.967,1' is 3967.1)",),
    roles={"amount": "numeric", "score": "numeric"},
)
def european_numbers() -> bytes:
    """';'-separated with dots between thousands and decimal commas: '3.967,1', '12,5'."""

    def amount(i: int, r: dict[str, Any]) -> str:
        return "3.967,1" if i == 0 else european(r["score"] * 97 + i, 1)

    records = [{**r, "score": str(r["score"]).replace(".", ",")} for r in with_column("amount", amount)]
    return csv_bytes(records, sep=";")


@case("wide_2000_columns.csv", large=True, roles={"f0": "numeric", "f1999": "numeric"})
def wide() -> bytes:
    """2,000 feature columns of single digits."""
    rng = random.Random(2)
    labels = [r["label"] for r in rows(40)]
    header = [f"f{j}" for j in range(2000)] + ["label"]
    body = [[rng.randint(0, 9) for _ in range(2000)] + [labels[i]] for i in range(40)]
    return text(header, body).encode()


# --------------------------------------------------------------------------- column names


@case("duplicate_columns.csv", warnings=("'score' appears 2 times",), roles={"score": "numeric"})
def duplicate_columns() -> bytes:
    """Two columns named score."""
    _header, body = table(rows())
    return text(["age", "city", "score", "score", "label"], [[a, c, s, s * 2, y] for a, c, s, y in body]).encode()


@case("duplicate_target_name.csv", warnings=("'label' appears 2 times",))
def duplicate_target_name() -> bytes:
    """Two columns named label; the first is the target."""
    header, body = table(rows())
    return text([*header, "label"], [[*line, line[0] % 3] for line in body]).encode()


@case("duplicates_after_strip.csv", warnings=("'city' appears 2 times",))
def duplicates_after_strip() -> bytes:
    """'city' and ' city ': the same name once spaces are trimmed."""
    _header, body = table(rows())
    return text(["age", "city", " city ", "score", "label"], [[a, c, c.upper(), s, y] for a, c, s, y in body]).encode()


@case("empty_column_names.csv", warnings=("no name",), roles={"column_1": "numeric"})
def empty_column_names() -> bytes:
    """Two columns without a name."""
    _header, body = table(rows())
    return text(["", "city", "", "label"], [[a, c, s, y] for a, c, s, y in body]).encode()


@case("newline_in_names.csv", target="is good", roles={"monthly income": "numeric"})
def newline_in_names() -> bytes:
    """Header cells with line breaks inside quotes (the target too)."""
    _header, body = table(rows())
    return text(["age", "city", "monthly\nincome", "is\r\ngood"], body).encode()


@case("zero_width_names.csv", roles={"age": "numeric"})
def zero_width_names() -> bytes:
    """Zero-width spaces and non-breaking spaces around names, as copied from a web page."""
    _header, body = table(rows())
    return text(["\u200bage", "city\u00a0", "score", "label\u200b"], body).encode()


@case("spaced_target.csv", target=" label ")
def spaced_target() -> bytes:
    """The target named with spaces around it, and asked for with them."""
    _header, body = table(rows())
    return text(["age", "city", "score", " label "], body).encode()


@case("unicode_target.csv", target="Résultat final ✓ (oui/non)", roles={"âge": "numeric"})
def unicode_target() -> bytes:
    """Unicode, spaces and punctuation in the names, the target's included."""
    _header, body = table(rows())
    return text(["âge", "ville 🏙", "score %", "Résultat final ✓ (oui/non)"], body).encode()


@case("numeric_names.csv", target="3", roles={"0": "numeric"})
def numeric_names() -> bytes:
    """Column names that are numbers."""
    _header, body = table(rows())
    return text(["0", "1", "2", "3"], body).encode()


@case("html_names.csv", target="<b>label</b>", warnings=("<script>alert(1)</script>",))
def html_names() -> bytes:
    """HTML and script in column names; the script column is constant, so a warning names it."""
    _header, body = table(rows())
    names = ["<img src=x onerror=alert(1)>", "city", "score", "<script>alert(1)</script>", "<b>label</b>"]
    return text(names, [[a, c, s, "same", y] for a, c, s, y in body]).encode()


@case("html_values.csv", roles={"bio": "categorical"})
def html_values() -> bytes:
    """HTML, script and markdown in cell values."""
    values = ("<script>alert('x')</script>", "<img src=x onerror=alert(1)>", "**bold** [link](http://x)", "$x$ `code`")
    return csv_bytes(with_column("bio", lambda i, r: values[i % 4]))


# --------------------------------------------------------------------------- targets


@case("one_class.csv", error="OneClassTarget", message="only one value")
def one_class() -> bytes:
    """Every row has the same label."""
    return csv_bytes([{**r, "label": "yes"} for r in rows()])


@case("target_all_missing.csv", error="TargetAllMissing", message="has no values")
def target_all_missing() -> bytes:
    """The target column is empty in every row."""
    return csv_bytes([{**r, "label": ""} for r in rows()])


@case("target_blank_strings.csv", error="TargetAllMissing", message="has no values")
def target_blank_strings() -> bytes:
    """The target holds only spaces and 'NA'-like markers."""
    blanks = (" ", "  ", "NA", "n/a")
    return csv_bytes([{**r, "label": blanks[i % 4]} for i, r in enumerate(rows())])


@case("target_some_missing.csv", warnings=("rows have no value in target column 'label'",))
def target_some_missing() -> bytes:
    """Some rows have no target: they are left out, with a note."""
    return csv_bytes([{**r, "label": "" if i % 9 == 0 else r["label"]} for i, r in enumerate(rows(70))])


@case("many_classes.csv", error="TaskMismatch", message="too many classes")
def many_classes() -> bytes:
    """3,000 rows, 1,500 different text labels."""
    return csv_bytes([{**r, "label": f"class-{i % 1500:04d}"} for i, r in enumerate(rows(3000))])


@case("class_too_small.csv", error="ClassTooSmall", message="'maybe'")
def class_too_small() -> bytes:
    """A third class with only two rows."""
    return csv_bytes([{**r, "label": "maybe" if i in (3, 30) else r["label"]} for i, r in enumerate(rows())])


@case("bool_target.csv", roles={"score": "numeric"})
def bool_target() -> bytes:
    """True/False target."""
    return csv_bytes([{**r, "label": r["label"] == "yes"} for r in rows()])


@case("regression_target.csv", target="price", roles={"score": "numeric"})
def regression_target() -> bytes:
    """A numeric target with a different value in nearly every row."""
    return csv_bytes(with_column("price", lambda i, r: round(r["score"] * 3.1 + r["age"] + i % 7 * 0.37, 2)))


@case("inf_target.csv", target="price", warnings=("infinite",))
def inf_target() -> bytes:
    """A regression target with 'inf' and '-inf' in some rows."""
    return csv_bytes(with_column("price", lambda i, r: ("inf", "-inf")[i % 2] if i % 13 == 0 else r["score"] * 2 + i))


@case(
    "target_missing_markers.csv",
    target="price",
    warnings=("marks missing ones with '?' and 'n.a.' and '-'", "rows have no value in target column 'price'"),
    task="regression",
)
def target_missing_markers() -> bytes:
    """A numeric target with gaps written '?', 'n.a.' and '-' (once 'choose regression', then 'choose classes')."""
    marks = ("?", "n.a.", "-")
    return csv_bytes(
        with_column("price", lambda i, r: marks[i % 3] if i % 7 == 0 else round(r["score"] * 3 + i, 2), 90)
    )


@case("target_too_large.csv", target="energy", error="TargetAllMissing", message="too large to use, such as 1.2e+200")
def target_too_large() -> bytes:
    """A target of numbers around 1e200, beyond what can be squared (once: 'has no values')."""
    return csv_bytes(with_column("energy", lambda i, r: f"{1.2 + i / 100:.2f}e200"))


@case("target_dates.csv", target="signed", error="TaskMismatch", message="derive a number")
def target_dates() -> bytes:
    """A target of dates (once: 'choose the regression task', which refused them as text)."""
    start = dt.date(2023, 1, 1)
    return csv_bytes(with_column("signed", lambda i, r: (start + dt.timedelta(days=i * 5)).isoformat(), 150))


@case("target_free_text.csv", target="review", error="TaskMismatch", message="free text")
def target_free_text() -> bytes:
    """A target of sentences, a different one in every row."""
    words = ("good", "slow", "the", "service", "was", "very", "cheap", "room", "clean", "noisy")
    rng = random.Random(6)
    return csv_bytes(with_column("review", lambda i, r: " ".join(rng.choice(words) for _ in range(6)) + f" {i}", 150))


@case("target_two_currencies.csv", target="price", error="TaskMismatch", message="one currency")
def target_two_currencies() -> bytes:
    """Prices in dollars and euros in one column."""
    return csv_bytes(with_column("price", lambda i, r: f"{'$€'[i % 2]}{r['score'] * 31 + i:,.2f}", 150))


@case("target_numbers_and_words.csv", target="price", error="TaskMismatch", message="correct those cells")
def target_numbers_and_words() -> bytes:
    """A numeric target where a fifth of the cells say 'ask' or 'call us'."""
    words = ("ask", "call us")
    return csv_bytes(with_column("price", lambda i, r: words[i % 2] if i % 5 == 0 else r["score"] * 3 + i, 150))


@case("target_euro_amounts.csv", target="price", warnings=("decimal comma",), task="regression")
def target_euro_amounts() -> bytes:
    """Prices written '1.234,50 €' in a comma-separated file (quoted)."""
    return csv_bytes(with_column("price", lambda i, r: f"{european(r['score'] * 31 + i)} €"))


@case("mixed_target.xlsx", roles={"score": "numeric"})
def mixed_target() -> bytes:
    """An Excel target holding numbers and text in the same column (1, 'yes', 0, 'no')."""
    header, body = table(rows())
    values = {"yes": (1, "yes"), "no": (0, "no")}
    return xlsx({"Data": [header, *([a, c, s, values[y][i % 2]] for i, (a, c, s, y) in enumerate(body))]})


# --------------------------------------------------------------------------- feature columns


@case("constant_features.csv", warnings=("'country' is not used",), roles={"country": "constant", "flag": "constant"})
def constant_features() -> bytes:
    """Two columns with the same value in every row."""
    return csv_bytes([{**r, "country": "FR", "flag": 1} for r in rows()])


@case("all_missing_feature.csv", warnings=("'notes' is not used",), roles={"notes": "empty"})
def all_missing_feature() -> bytes:
    """A column with no values at all."""
    return csv_bytes(with_column("notes", lambda i, r: ""))


@case("no_usable_features.csv", error="NoFeatures", message="no usable feature column")
def no_usable_features() -> bytes:
    """Only a row number, a constant and an empty column beside the target."""
    return csv_bytes([{"row": i, "country": "FR", "notes": "", "label": r["label"]} for i, r in enumerate(rows())])


@case("mixed_types.csv", roles={"code": "categorical"})
def mixed_types() -> bytes:
    """A column mixing numbers, text, booleans and blanks."""
    values = ("12", "abc", "3.5", "", "True", "7", "n/a", "x1")
    return csv_bytes(with_column("code", lambda i, r: values[i % len(values)]))


@case("dates.csv", roles={"iso": "datetime", "us": "datetime", "dotted": "datetime", "stamp": "datetime"})
def dates() -> bytes:
    """Dates in ISO, US, dotted European and timestamp formats."""
    start = dt.datetime(2023, 1, 3, 8, 30)

    def day(i: int) -> dt.datetime:
        return start + dt.timedelta(days=i * 3, hours=i)

    records = [
        {
            **r,
            "iso": day(i).strftime("%Y-%m-%d"),
            "us": day(i).strftime("%m/%d/%Y"),
            "dotted": day(i).strftime("%d.%m.%Y"),
            "stamp": day(i).strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for i, r in enumerate(rows())
    ]
    return csv_bytes(records)


@case("mixed_timezones.csv", warnings=("mixes time zones (+01:00, -05:00, Z)",), roles={"when": "datetime"})
def mixed_timezones() -> bytes:
    """ISO times with different UTC offsets in one column (once: 'Mixed timezones detected')."""
    zones = ("+01:00", "-05:00", "Z")
    return csv_bytes(
        with_column("when", lambda i, r: f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:30:00{zones[i % 3]}")
    )


@case("currency.csv", warnings=("'$1,234.50'",), roles={"amount": "numeric", "fee": "numeric"})
def currency() -> bytes:
    """Money as text: '$1,234.50', '€ 12', '-$3.10'."""

    def amount(i: int, r: dict[str, Any]) -> str:
        return "$1,234.50" if i == 0 else f"${r['score'] * 37:,.2f}" if i % 5 else f"-${i / 3:,.2f}"

    records = [{**r, "fee": f"€ {r['age'] % 20}"} for r in with_column("amount", amount)]
    return csv_bytes(records)


@case("units.csv", warnings=("'12 kg'",), roles={"weight": "numeric", "share": "numeric"})
def units() -> bytes:
    """Numbers with units: '12 kg', '40%'."""

    def weight(i: int, r: dict[str, Any]) -> str:
        return "12 kg" if i == 0 else f"{r['age'] / 2:g} kg"

    return csv_bytes([{**r, "share": f"{r['age'] % 50}%"} for r in with_column("weight", weight)])


@case("thousands_separators.csv", roles={"population": "numeric"})
def thousands_separators() -> bytes:
    """Quoted numbers with thousands separators: '1,234,567'."""
    return csv_bytes(with_column("population", lambda i, r: f"{r['age'] * 104729 + i:,}"))


@case("inf_values.csv", warnings=("infinite",), roles={"ratio": "numeric"})
def inf_values() -> bytes:
    """'inf', '-inf' and 'Infinity' among the numbers of a feature."""
    marks = ("inf", "-inf", "Infinity")
    return csv_bytes(with_column("ratio", lambda i, r: marks[i % 3] if i % 10 == 0 else r["score"] / 7))


@case("huge_numbers.csv", warnings=("beyond",), roles={"mass": "numeric", "energy": "numeric"})
def huge_numbers() -> bytes:
    """Numbers near the float limit (1.7e308) and far beyond it (1e400 reads as infinite)."""
    records = with_column(
        "mass", lambda i, r: ("1.7e308", "-1.7e308", "1e400")[i % 3] if i % 4 == 0 else r["age"] * 1e100
    )
    return csv_bytes([{**r, "energy": r["score"] * 1e140} for r in records])


@case("id_columns.csv", warnings=("(id)",), roles={"row": "id", "customer": "id"})
def id_columns() -> bytes:
    """A row number and a unique customer code."""
    return csv_bytes([{"row": i + 1, "customer": f"C-{(i * 7919) % 100000:05d}", **r} for i, r in enumerate(rows())])


@case("leakage.csv", warnings=("(leakage)",), roles={"label_copy": "leakage", "label_code": "leakage"})
def leakage() -> bytes:
    """A copy of the target and a 0/1 recoding of it."""
    return csv_bytes([{**r, "label_copy": r["label"], "label_code": int(r["label"] == "yes")} for r in rows()])


# --------------------------------------------------------------------------- compressed and binary formats


@case("good.csv.gz", roles={"score": "numeric"})
def good_gz() -> bytes:
    """A well-formed gzip CSV."""
    return gzipped(csv_bytes(rows()))


@case("truncated.csv.gz", error="UnreadableFile", message="gzip")
def truncated_gz() -> bytes:
    """A gzip file cut in the middle."""
    whole = gzipped(csv_bytes(rows(3000)))
    return whole[: len(whole) // 2]


@case("plain_text.csv.gz", warnings=("not gzip-compressed",), roles={"score": "numeric"})
def plain_text_gz() -> bytes:
    """A plain CSV named .csv.gz (a browser that unpacked the download keeps the name)."""
    return csv_bytes(rows())


@case("gzip_of_garbage.csv.gz", error="UnreadableFile", message="binary")
def gzip_of_garbage() -> bytes:
    """A valid gzip stream of random bytes."""
    return gzipped(noise(4096, seed=3))


@case("good.xlsx", roles={"score": "numeric"})
def good_xlsx() -> bytes:
    """A well-formed one-sheet workbook."""
    return xlsx_of(rows())


@case("two_sheets.xlsx", warnings=("2 sheets",), roles={"score": "numeric"})
def two_sheets() -> bytes:
    """The data on the first sheet, notes on a second one."""
    header, body = table(rows())
    return xlsx({"Data": [header, *body], "Notes": [["made by"], ["finance"]]})


@case("empty_first_sheet.xlsx", warnings=("'Data'",), roles={"score": "numeric"})
def empty_first_sheet() -> bytes:
    """An empty first sheet; the data is on the second."""
    header, body = table(rows())
    return xlsx({"Cover": [], "Data": [header, *body]})


@case("corrupt.xlsx", error="UnreadableFile", message="Excel")
def corrupt_xlsx() -> bytes:
    """Text named .xlsx."""
    return b"this is not a spreadsheet\n" * 10


@case("truncated.xlsx", error="UnreadableFile", message="Excel")
def truncated_xlsx() -> bytes:
    """A workbook cut in half."""
    whole = xlsx_of(rows())
    return whole[: len(whole) // 2]


@case("good.parquet", roles={"score": "numeric"})
def good_parquet() -> bytes:
    """A well-formed Parquet file."""
    return parquet(frame_of(rows()))


@case("parquet_types.parquet", roles={"count": "numeric", "kind": "categorical", "when": "datetime"})
def parquet_types() -> bytes:
    """Nullable integers, booleans with gaps, categories, time zones, decimals, lists and bytes."""
    import decimal

    import pandas as pd

    frame = frame_of(rows())
    n = len(frame)
    frame["count"] = pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64")
    frame["flag"] = pd.array([None if i % 5 == 0 else i % 2 == 0 for i in range(n)], dtype="boolean")
    frame["kind"] = pd.Categorical([("a", "b", "c")[i % 3] for i in range(n)])
    frame["when"] = pd.date_range("2024-01-01", periods=n, freq="37h", tz="Europe/Paris")
    frame["price"] = [decimal.Decimal(f"{i}.{i % 100:02d}") for i in range(n)]
    frame["tags"] = [["x", "y"][: i % 3] for i in range(n)]
    frame["blob"] = [bytes([i % 256, 0, 255]) for i in range(n)]
    return parquet(frame)


@case("corrupt.parquet", error="UnreadableFile", message="Parquet")
def corrupt_parquet() -> bytes:
    """The Parquet magic number around garbage."""
    return b"PAR1" + noise(2000, seed=4) + b"PAR1"


@case("truncated.parquet", error="UnreadableFile", message="Parquet")
def truncated_parquet() -> bytes:
    """A Parquet file cut in half."""
    whole = parquet(frame_of(rows()))
    return whole[: len(whole) // 2]


# --------------------------------------------------------------------------- large: built at test time


@case("huge_cell.csv", large=True, roles={"score": "numeric"})
def huge_cell() -> bytes:
    """One cell of 1 MB of text."""
    return csv_bytes(with_column("comment", lambda i, r: "x" * 1_000_000 if i == 7 else f"note {i % 5}"))


@case("huge_column_name.csv", large=True, warnings=("...",), roles={"score": "numeric"})
def huge_column_name() -> bytes:
    """A constant column whose name is 300 KB long: messages that name it must stay short."""
    header, body = table(rows())
    return text([*header[:3], "n" * 300_000, "label"], [[a, c, s, 1, y] for a, c, s, y in body]).encode()


@case("over_limit.csv", large=True, max_bytes=1_000_000, error="FileTooLarge", message="over the limit of 1 MB")
def over_limit() -> bytes:
    """1.5 MB against a 1 MB limit (the app's upload limit is set low for the test)."""
    return csv_bytes(rows(80_000))


# --------------------------------------------------------------------------- writing


def build(file: str) -> bytes:
    return CASES[file].build()


def manifest() -> list[dict[str, Any]]:
    return [c.entry() for c in CASES.values()]


def main() -> None:
    for c in CASES.values():
        if not c.large:
            (HERE / c.file).write_bytes(c.build())
    MANIFEST.write_text(json.dumps(manifest(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{sum(not c.large for c in CASES.values())} files and {MANIFEST.name} written to {HERE}")


if __name__ == "__main__":
    main()
