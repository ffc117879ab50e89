"""The plugin system: hook specifications, registries and the plugin manager."""
