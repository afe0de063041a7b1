"""Fixed model-facing prompts (English, never shown to users)."""

# SPEC.md M4 "Усилить черты": sharpen features and skin, brighter eyes, keep face structure,
# proportions, age and lips unchanged, add nothing.
RETOUCH_ENHANCE = (
    "Subtly enhance this portrait: sharpen the facial features and skin texture, make the eyes slightly "
    "brighter. Keep the face structure, proportions and age exactly as they are, do not change the lips, "
    "do not make the person look younger, and do not add any new objects or details."
)
RETOUCH_SOFT = (
    "Gentle natural skin retouch: remove small blemishes, even out the skin tone, keep pores and texture."
)
