"""Answers for decisions, from posterior draws: risk-aware plans, comparisons of groups, the compute-optimal frontier."""
