"""A run in words and pictures: gather the data, then draw it (the CLI, the report and the app).

- `card`: the recommendation card as plain data.
- `explain`: the card's sentences (figures, comparisons, ties, levels, stability).
- `charts`: the Pareto and batch charts as data, then as plotly figures.
- `report`: the self-contained HTML report.
- `numbers`: the one number formatter (`format_quantity`: time, bytes, rows/s, J, money, shares, counts).
- `text`: user strings made safe for markdown and for the terminal.
"""
