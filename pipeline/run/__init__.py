"""One local run, start to finish: its inputs, the pre-flight checks, the lock, the runner, signals.

`service.RunService` does a run's work; `inputs.RunInputs` is what the run
reads, decided once; `local_runner` runs the DAG on the LocalDagRunner;
`freshness` decides whether a rerun would only repeat the last run; `lock`,
`interrupts` and `console` keep two runs, a signal and the library noise from
getting in each other's way; `simulate` plays spans back one run at a time;
`beam_overheads` tunes Beam in the process a run executes in.
"""
