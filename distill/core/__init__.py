"""The plumbing every stage runs: shared names, file paths, params validation, runtime threads,
atomic file writes, the stage runner. Import-light: nothing here imports TensorFlow at the top."""
