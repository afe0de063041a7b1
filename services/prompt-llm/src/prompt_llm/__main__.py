from medialab_runtime.service import main

from prompt_llm.app import DIST, NAME, setup
from prompt_llm.settings import PromptLlmSettings

if __name__ == "__main__":
    main(NAME, PromptLlmSettings, setup, dist=DIST)
