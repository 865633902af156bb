"""The Kivy app patients touch: a thin App, one .py and one .kv per screen, and the answer widgets.

The screens render the state that `kiosk.controller.KioskController` owns and forward every tap to
it; no rule about answers, time or privacy lives here.
"""
