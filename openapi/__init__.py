"""The project spec and the tool that derives it from upstream."""
