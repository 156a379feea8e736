"""The posterior as a result: the Fit object, its summaries of draws, checks around sampling, and safe saving."""
