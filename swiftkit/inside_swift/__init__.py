"""ms-swift external plugins that swiftkit passes with --external_plugins (imported inside ms-swift's process)."""
