"""Grids of fits and backtests on Dask workers, restartable."""
