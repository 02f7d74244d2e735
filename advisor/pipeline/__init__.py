"""The advisor run, from data in to one recommendation out; `advise` is where to start reading.

- `advise`: the entry points `advise`, `resume` (finish an interrupted run) and `open_run`
  (reopen a stored run or a results.json), each read top-down as the run goes.
- `plan`: `RunPlan` and `Budget`: every setting a run starts with, checked once at the boundary,
  saved with the run and read back by `resume`; the defaults the CLI and the app show.
- `progress`: `ProgressEvent`, the `Reporter` that sends them, and `Cancelled` (the stop signal).
- `forecast`: the whole run's share done and time left, across every phase, for those events.
- `prepare`: the data a run trains on: the dataset loaded and checked, the training rows sampled
  down to the row budget, the dataset summary, and the encoded run context every candidate reads.
- `settings`: what a run saves about itself and `resume` reads back: its options, timing
  settings and catalog entries, the store's header, the final ranking.
- `train`: phase 1, every candidate trained through the backend and committed one at a time, its
  artifact written and loaded back; a resumed run's committed candidates reloaded.
- `timing_phase`: phase 2, every trained candidate timed together in one child process under the
  machine's timing lock (or alone, one by one, if that fails; or on a chosen Dask worker).
- `startup`: start-up figures (warm, right after training; cold, in a fresh process per runtime)
  and the torch candidates timed again on a GPU.
- `serving`: the optional serving check: the Pareto front served over HTTP (`advisor serve`, one
  worker) and loaded to the highest rate within the p99 bound, beside the queueing estimate.
- `curve`: the learning curve: would more training rows help?
"""
