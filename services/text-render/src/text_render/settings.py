"""text-render configuration, from the environment (``CONSUMER_CONCURRENCY``, ``STYLE_LLM_TIMEOUT_S``, …)."""

from medialab_runtime.runner import JobServiceSettings
from pydantic import Field

from text_render.image_io import MAX_INPUT_BYTES, MAX_INPUT_PIXELS


class TextRenderSettings(JobServiceSettings):
    # Rendering is CPU-bound (a 24 MP picture keeps two cores busy for a few hundred ms) and
    # holds about one decoded copy of the picture in memory: few jobs at a time.
    consumer_concurrency: int = Field(default=2, ge=1, le=64)
    max_deliver: int = Field(default=3, ge=1)
    # The LLM reading of the style wish is a nicety: past this, the rules' reading is used.
    style_llm_enabled: bool = True
    style_llm_timeout_s: float = Field(default=8.0, gt=0, le=60)
    max_input_bytes: int = Field(default=MAX_INPUT_BYTES, ge=1024)
    max_input_pixels: int = Field(default=MAX_INPUT_PIXELS, ge=4096)
