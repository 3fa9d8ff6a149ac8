"""The desktop app's Qt parts: windows, widgets, list models and the engine worker."""
