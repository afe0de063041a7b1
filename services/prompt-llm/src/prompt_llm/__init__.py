"""prompt-llm: prompt engineering over fal's ``openrouter/router`` (M2 prompts, Seedream translation,
M5 style)."""
