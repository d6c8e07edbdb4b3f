"""The Dagster-free core: typed models and pure functions. Never imports dagster."""
