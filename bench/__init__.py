"""The AlertNet benchmark (`make bench`, `python -m bench`): the real stack on this machine, measured.

- `stack`, `hub`: a private Redis and the hub's processes (sim, api, workers, scheduler), stopped on exit.
- one module per figure: `fanout`, `ceiling`, `naive` (+ `naive_rq_config`), `priority`, `acks`
  (+ `ackload`, the load generator process), `escalation`, `memory`, `paced` (provider limits).
- `run` puts them in order, `profiling` / `flame` take and draw py-spy profiles, `report` / `plot`
  write the table, results.json, fanout.png and the README section.
"""
