"""Email templates: `<kind>.txt` and `<kind>.html` (extending `base.*`), rendered with jinja2.

HTML is autoescaped, so names and addresses from events cannot inject markup; text is not escaped.
"""
