"""The command line and the composition of RegCA's services on one base URL."""
