from .pyside_workarounds import keep_singletons_alive

keep_singletons_alive()
