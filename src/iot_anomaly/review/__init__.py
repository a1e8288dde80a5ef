"""The review site (`iot-anomaly report`): model quality, data quality, drift over time and
the decision log as static, self-contained pages under `reports/site/`.

`inputs` reads what the pipeline and the monitoring wrote, `timeline` draws the drift
timeline as inline SVG, `pages` turns both into HTML; `iot_anomaly.stages.report` writes
the folder.
"""
