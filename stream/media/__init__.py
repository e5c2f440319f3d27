"""Frames in and out: video files (video_io.py), the one uint8 <-> [-1, 1] conversion
(pixels.py), frame-rate conversion (frame_rate.py), the closed-form worlds with exact truth
(worlds.py), the clips training and evaluation read (clips.py), and pictures for people: contact
sheets (contact_sheet.py) and the marker on predicted frames (boundary_marker.py)."""
