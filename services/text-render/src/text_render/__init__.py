"""M5 text-render: Cyrillic text and colour emoji drawn on a picture with Pillow + pilmoji."""
