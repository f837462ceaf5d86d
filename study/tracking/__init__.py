"""MLflow: the store, the parent run, child runs, completion from records."""
