"""The desktop app. Its package import loads no Qt: `layerloom check` and the other subcommands import
layerloom.app.main too. The binding's workarounds apply here when Qt has already loaded, else when
app/launch.py loads it."""
from .pyside_workarounds import keep_singletons_alive, scan_imports_cheaply

keep_singletons_alive()
scan_imports_cheaply()
