"""cargoguard's streaming plumbing: settings, codec, topics, the Faust app, CLI, web and tools."""
