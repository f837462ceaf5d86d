"""The study file: YAML loading with limits, validation, keys, data roots."""
