"""The controller's database: models, engine and transactions with retries."""
