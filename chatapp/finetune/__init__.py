"""Fine-tuning on the saved conversations: the typed request (every knob with its range), which
pairs are learned from, the job run in a child process, its lock and signals, the model
versions it writes, and the progress events it prints.

It knows no Qt and no command line: the CLI and the GUI dialog both build a `FinetuneRequest`.
"""
