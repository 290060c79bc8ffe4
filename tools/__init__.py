"""The repository's own tools, never installed nor shipped in the image:
``python -m tools.build`` (``make generate``) writes every generated file from its
sources (the catalog, the settings, the event schema, the jsonnet mixin)."""
