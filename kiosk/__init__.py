"""The kiosk core: surveys, the flow engine, the response store and handoff tokens. No Kivy here."""

__version__ = "0.1.0"
