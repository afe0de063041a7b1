from medialab_runtime.service import main

from text_render.app import DIST, NAME, setup
from text_render.settings import TextRenderSettings

if __name__ == "__main__":
    main(NAME, TextRenderSettings, setup, dist=DIST)
