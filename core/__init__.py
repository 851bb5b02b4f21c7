"""The bottom layer: playback-state rules and the plumbing every app shares. Imports no app."""
