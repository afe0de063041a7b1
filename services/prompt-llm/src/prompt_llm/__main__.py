from medialab_runtime.service import main

from prompt_llm.service import DIST, SERVICE_NAME, setup
from prompt_llm.settings import PromptLlmSettings

if __name__ == "__main__":
    main(SERVICE_NAME, PromptLlmSettings, setup, dist=DIST)
