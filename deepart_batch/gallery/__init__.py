"""What the team sees: the outbox gallery (plain HTML files), thumbnails and contact sheets.

pages (build_gallery), writer (GalleryWriter, the daemon's hook), contact_sheet, commands
(the CLI's `gallery` and `contact-sheet`). Nothing imports torch except contact sheets that
render small versions themselves, and only then.
"""
