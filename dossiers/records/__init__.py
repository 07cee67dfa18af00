"""Records kept for others: the reusable repository, full-text search, harvesting (OAI-PMH and the feed) and fixity."""
