"""Host providers: where machines come from. One module per provider."""
