"""How long the window's passing messages stay: one home for each duration and its reason.

A banner or status-bar message that times out is one the user needs no action on; the length
is what reading it takes, so a longer or less expected message stays longer. Errors have no
timeout at all (the user closes them).
"""

from __future__ import annotations

# "Copied to the clipboard" in the status bar: confirms what the user just did and can see
# (the text is on the clipboard either way), so it only has to be noticed, not read.
STATUS_CONFIRM_MS = 2000

# A short banner line about the user's own last step ("Exported to …", "Open a conversation to
# export it", "your message will be answered when the model is ready"): one glance.
BANNER_BRIEF_MS = 4000

# A banner reporting a result with something to take in: an import's counts, the model version
# now in use. The user may look up from the composer a moment later, so it waits a little longer.
BANNER_RESULT_MS = 5000

# A notice the user did not expect and should understand (characters replaced, an empty reply
# not stored): a sentence or two, read in full before it goes.
BANNER_NOTICE_MS = 8000
