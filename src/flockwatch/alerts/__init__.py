"""What detection produces: alert records, their fingerprints and summaries."""
