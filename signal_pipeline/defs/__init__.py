"""Dagster adapters only. Each sub-folder is one asset layer (assets.py, checks.py,
schedules/sensors where they belong); `signal_pipeline.definitions` loads them all."""
