"""The application: Qt window, engine worker, conversation store and the CLI commands."""

APP_NAME = "Seq2Seq Chat"
ORG_NAME = "Seq2SeqChat"
__version__ = "0.1.0"
