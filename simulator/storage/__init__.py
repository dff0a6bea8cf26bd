"""Storage: read models, ORM tables, database set-up and migrations, and the Store."""
