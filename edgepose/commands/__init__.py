"""One module per ``edgepose`` sub-command: ``NAME``, ``HELP``, ``add_arguments(parser)``, ``run(args)``."""
