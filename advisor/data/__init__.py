"""Data in: the one loader, column roles, task detection and the train/validation/test split.

This is the boundary: everything a user can get wrong about a file is caught here and reported as
one sentence (see `advisor.errors`). Code further in trusts what leaves this package. The modules,
in the order the data passes through them:

- `sniff`: before parsing, what the bytes are (gzip, zip, Parquet, pickle, HTML, JSON; the text
  encoding, the separator, a decimal comma) and the caps on bytes, expanded bytes, rows and cells.
- `read`: `load_table`, bytes in and a table out: CSV and gzip CSV parsing, Parquet, Excel, and the
  parsers' errors as one sentence each.
- `repair`: tidying the table as read: column names, repeated header rows, a file without a header
  row, numbers written for people ('$1,234', '3.967,1'), missing-value markers, infinities.
- `roles`: the role of each column (numeric, categorical, text, datetime; or id, leakage, constant,
  empty, which are left out) and the tests on values behind it.
- `inspect`: `inspect_table`, `load_dataset`, `guess_target` and `Dataset`: the target checked, the
  task and primary metric detected, the advice for a target that cannot be used as it is.
- `split`: `split_dataset` and `Split`, the train / validation / test rows.
- `encoder`: the preprocessing that is part of every candidate (impute, encode, scale).
- `dates`: dates and times as calendar parts: the format learned on the training rows, a batch
  read by pandas and one record by the standard library, with the same answer.
"""
