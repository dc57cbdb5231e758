"""The main screen and the modals that edit, preview and confirm changes."""
