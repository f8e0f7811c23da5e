"""The built-in plugins. Each module is registered under a short name, exactly like an entry point,
and imports only tradehooks' public API (``tradehooks``, ``.contracts``, ``.model``, ``.exceptions``)."""
