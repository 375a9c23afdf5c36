"""The OpenAPI document of the public API: generated, checked in, served at /v1/openapi.json."""
