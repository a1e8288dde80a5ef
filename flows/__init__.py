"""Prefect flows: thin tasks over the stage functions in `iot_anomaly.stages`."""
