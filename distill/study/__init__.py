"""The study pipeline's own code (study/dvc.yaml): its params, one seed's run, gathering seeds into
a network, its report. Nothing in the default pipeline imports this package."""
