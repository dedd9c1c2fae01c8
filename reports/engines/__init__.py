"""Family files: one module per engine family, each exporting ``ENGINES`` (a list of
reports.engine.Engine records). reports/registry.py discovers them; see docs/adding-an-engine.md."""
