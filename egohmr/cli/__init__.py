"""The `egohmr` console command: one module per subcommand, each exposing `register(subparsers)`."""
