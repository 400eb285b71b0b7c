"""RegCA tsa service."""
