"""RegCA signing service."""
