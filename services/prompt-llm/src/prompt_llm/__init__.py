"""prompt-llm: prompt engineering over ``fal-ai/any-llm`` (M2 prompts, Seedream translation, M5 style)."""
