"""Running cxpulse: settings, logging, the embedded broker, topic setup, the process supervisor and the CLI."""
