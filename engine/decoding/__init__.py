"""Decoding: the settings (`config`, no torch), the strategies and the generation loop."""
