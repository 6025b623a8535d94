"""The spend store: tables, engine, migrations, bulk writes with rollups, and queries."""
