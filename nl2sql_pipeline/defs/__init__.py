"""The thin Dagster layer: assets, resources, IO managers and partitions that wire the core."""
