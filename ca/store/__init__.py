"""All SQL lives here: SQLAlchemy 2 models, the engine, and one module per aggregate."""
