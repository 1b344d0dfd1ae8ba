"""Coverage-guided fuzzing of the host (issue 11): recorded guest streams, mutated.

- `stream.py`: the input format (batches of records plus the heap bytes they point at).
- `record.py`: records real guests into a seed corpus (`python -m fuzz.record`).
- `mutate.py`: the structure-aware mutator (fields of decoded records, splices, raw flips).
- `harness.py`: a session with the real renderer over an in-process region, and its checks.
- targets: `python -m fuzz.decoder` (codec only), `python -m fuzz.session` (session + renderer).
- `python -m fuzz.run`: a sized run of both targets with a summary table.
- `python -m fuzz.minimize FINDING.pvfz`: shrinks a session finding's input (for
  tests/fuzz_regressions/).

The engine is atheris (libFuzzer for Python): coverage-guided (edges of the instrumented
pvgpu modules), in-process (one wgpu device serves many inputs; a session reset between
inputs costs little), with hooks for a custom mutator and crossover, which is what makes
the mutation structure-aware.
"""
