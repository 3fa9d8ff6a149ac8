"""Fine-tuning on the saved conversations: the typed request (every knob with its range), which
pairs are learned from, the job run in a child process (which records the model version it
writes), its lock and signals, and reading back the progress events it prints.

It knows no Qt and no command line: the CLI and the GUI dialog both build a `FinetuneRequest`.
"""
