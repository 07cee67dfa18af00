"""What every package may use: settings, the error base and the log context and formats."""
