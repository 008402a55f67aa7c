# A drop-in that fails to import: the bot must log it and carry on.
raise RuntimeError("this drop-in is broken on purpose")
