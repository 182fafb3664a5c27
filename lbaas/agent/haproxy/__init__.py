"""HAProxy data plane: config rendering (render, viewmodel, quoting, options, templates/), binary
feature probing (features) and admin-socket output parsing (stats)."""
