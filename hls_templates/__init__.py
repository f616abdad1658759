"""Jinja2 templates (*.j2) and static HLS kernel headers; located at run time with importlib.resources."""
