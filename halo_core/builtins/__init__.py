"""HALO's built-in plugins, each registered exactly like a third-party plugin.

Disable any of them with ``HALO_DISABLE_PLUGINS=<name>``; see
:data:`halo_core.plugins.DEFAULT_PLUGINS` for the names.
"""
