"""A run in words and pictures: gather the data, then draw it (the CLI, the report and the app).

- `view`: everything a person reads about a run as plain data (`run_view`): the card, the leaderboard
  as formatted cells under headers with units, the shortlist, the learning curve, each candidate's
  methods as labelled rows, the notes. The CLI, the report and the app only lay it out.
- `card`: the recommendation card as plain data.
- `explain`: the card's sentences (figures, comparisons, ties, levels, stability).
- `charts`: the Pareto and batch charts as data, then as plotly figures.
- `report`: the self-contained HTML report.
- `numbers`: the one number formatter (`format_quantity`: time, bytes, rows/s, J, money, shares, counts).
- `text`: user strings made safe for markdown and for the terminal.
"""
