"""The application: Qt window, engine worker, conversation store and the CLI commands."""

APP_NAME = "Seq2Seq Chat"
ORG_NAME = "Seq2SeqChat"
# The desktop entry, icon and AppStream id (`install-desktop`); also the Wayland app id.
APP_ID = "org.seq2seqchat.Seq2SeqChat"
__version__ = "0.1.0"
