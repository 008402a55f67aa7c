"""An installed plugin that fails to import: logged with its distribution's name, skipped."""

raise ImportError("pubbot_example.broken is broken on purpose")
