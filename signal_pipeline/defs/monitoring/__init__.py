"""Monitoring of the served model: feature drift and the champion/challenger A/B test."""
