"""The benchmark suite: `python -m bench ingest|query|price`. Each figure is one JSON object
with its reference measured in the same run on the same machine."""
