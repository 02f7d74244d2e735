"""Every figure the advisor shows, and how it was obtained.

- `figures`: frozen measurement records with their units and `method`; quality, size, energy, cost.
- `timing`: the one timer (warm-up, interleaved rounds, percentiles, pinned threads).
- `lock`: one timing phase per machine at a time.
- `hardware`: the machine's description, memory and limits read from the environment.
- `coldstart`: the fresh-process child that times a cold start.
- `device`: measuring an artifact on another machine, and importing that measurement.
"""
