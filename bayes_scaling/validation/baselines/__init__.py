"""Point-estimate baselines a backtest compares the posterior with: Huber + bootstrap (Chinchilla) and M4 (learning curves)."""
