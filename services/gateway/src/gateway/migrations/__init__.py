"""The gateway owns schema `identity`: users and their credentials."""

SCHEMA = "identity"
