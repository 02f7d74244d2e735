"""Running one candidate somewhere: a child process here, or a task on a Dask cluster.

- `isolate`: a function in a child process under time and memory limits, its failure in words.
- `worker`: train, score and size one candidate (what runs in that child or on a Dask worker).
- `backend`: the local backend (forked children) and the Dask backend behind one interface.
- `ship`: a Dask cluster checked for the libraries the candidates need, and sent the advisor's code.
- `preload`: what the forkserver imports once so each child starts in milliseconds.
"""
