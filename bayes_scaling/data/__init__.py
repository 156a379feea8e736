"""The runs: reading and validating tables, groups of runs, registered datasets, and how far a query reaches beyond them."""
