"""Results and their return to the citizen: at the counter, by post, or by link."""
