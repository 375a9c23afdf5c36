"""The notifier's ports to the outside: its tables, SMTP and webhook HTTP."""
