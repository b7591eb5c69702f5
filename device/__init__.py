"""pfmt device layer: signal pipeline, simulator, programmes, sessions — everything that knows
training and nothing about registers."""
