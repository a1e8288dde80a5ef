"""Pipeline stages: thin functions over the package's logic, called by the CLI (and so by
DVC) and by the Prefect flows alike. Each reads params and paths, writes its outputs, and
returns a summary."""
