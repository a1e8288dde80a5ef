"""The review site (`iot-anomaly report`): model quality, data quality, drift over time and
the decision log as static, self-contained pages under `reports/site/`.

`inputs` reads what the pipeline and the monitoring wrote; `site` turns it into plain data
per page (`parts`: figures with their provenance, badges, the page list; `decisions`: the
decision log; `timeline`: the drift timeline drawn by matplotlib as SVG) and renders it with
the Jinja2 templates of `templates/` (`render`), which the data-validation report and the
stand-alone decision log share; `iot_anomaly.stages.report` writes the folder.
"""
