"""Presentation: figures (matplotlib, optional) and the Markdown/LaTeX report."""
