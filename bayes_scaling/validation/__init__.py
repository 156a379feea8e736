"""Does the posterior predict? Backtests, predictive draws, scores, simulation-based calibration and the point-estimate baselines."""
